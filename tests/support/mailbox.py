"""The shop mailbox in end-to-end tests: what a manager's mail client does with it (put a
reply in), and what the owner sees in it (which mails are where, with which flags)."""

from __future__ import annotations

import contextlib
from email.message import EmailMessage

from imapclient import IMAPClient

from im2mail.testing.mail_servers import gmail_reply
from tests.e2e.relay_rig import MANAGERS
from tests.support.imap_server import ImapServer

ANNA = MANAGERS[0]


class Mailbox:
    """The shop mailbox as a manager's mail client and the owner see it."""

    def __init__(self, server: ImapServer) -> None:
        self.client = IMAPClient(server.host, port=server.port, ssl=False, timeout=5)
        self.client.login(server.user, server.password)

    def put(self, email: EmailMessage, folder: str = "INBOX") -> None:
        self.client.append(folder, email.as_bytes())

    def put_raw(self, raw: bytes, folder: str = "INBOX") -> None:
        """An email as bytes: headers the email package would not write (a forgery)."""
        self.client.append(folder, raw)

    def subjects(self, folder: str) -> dict[str, tuple[bytes, ...]]:
        """Message-ID -> flags of the messages in folder ({} when it doesn't exist)."""
        c = self.client
        if not c.folder_exists(folder):
            return {}
        c.select_folder(folder, readonly=True)
        data = c.fetch(c.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        out = {}
        for item in data.values():
            header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().strip()
            out[header.partition(":")[2].strip()] = item[b"FLAGS"]
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.logout()


def reply_to(original: EmailMessage, text: str, *, sender: str = ANNA, **headers) -> EmailMessage:
    """What Gmail sends when a manager presses Reply (Anna by her name)."""
    From = f"Anna Koval <{sender}>" if sender == ANNA else sender
    return gmail_reply(original, text, sender=From, **headers)
