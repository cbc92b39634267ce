"""Telegram Desktop JSON exports for tests, in the shapes Telegram Desktop writes
(export_output_json.cpp): one chat, or the whole account with personal_information and
chats.list; media paths relative to the export's folder; "(File not included…)" when the
export settings left a file out.

`write_big` streams a many-message export to disk without building it in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

OWNER_ID = 5000001  # the account that exported
OWNER = "Друкарня Олени"
START = 1_700_000_000  # 2023-11-14T22:13:20Z
LEFT_OUT = "(File not included. Change data exporting settings to download.)"


def message(
    id: int, chat_id: int, *, mine: bool = False, text: Any = "", when: int | None = None,
    name: str = "Марія Коваль", **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    sent = START + id * 60 if when is None else when
    return {
        "id": id,
        "type": "message",
        "date": _local(sent),
        "date_unixtime": str(sent),
        "from": OWNER if mine else name,
        "from_id": f"user{OWNER_ID if mine else chat_id}",
        "text": text,
        "text_entities": [],
        **extra,
    }


def service(id: int, action: str = "phone_call") -> dict[str, Any]:
    return {"id": id, "type": "service", "date": _local(START + id * 60),
            "date_unixtime": str(START + id * 60), "actor": OWNER,
            "actor_id": f"user{OWNER_ID}", "action": action, "text": ""}  # fmt: skip


def chat(id: int, name: str, messages: list[dict[str, Any]], type: str = "personal_chat"):
    return {"name": name, "type": type, "id": id, "messages": messages}


def whole_account(chats: list[dict[str, Any]], left: list[dict[str, Any]] = ()) -> dict:
    return {
        "about": "Here is the data you requested.",
        "personal_information": {"user_id": OWNER_ID, "first_name": OWNER, "phone_number": ""},
        "contacts": {"about": "…", "list": []},
        "chats": {"about": "…", "list": chats},
        "left_chats": {"about": "…", "list": list(left)},
    }


def write(folder: Path, export: dict[str, Any], files: dict[str, bytes] | None = None) -> Path:
    """result.json (indented, as Telegram Desktop writes it) and the media files."""
    folder.mkdir(parents=True, exist_ok=True)
    for relative, data in (files or {}).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    path = folder / "result.json"
    path.write_text(json.dumps(export, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def write_big(path: Path, chats: int, per_chat: int) -> int:
    """A whole-account export of chats × per_chat text messages, streamed to disk."""
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{{\n "about": "",\n "personal_information": {{"user_id": {OWNER_ID}}},\n')
        out.write(' "chats": {\n  "about": "",\n  "list": [\n')
        for n in range(chats):
            chat_id = 7_000_000 + n
            out.write("   " + ("," if n else ""))
            out.write(json.dumps({"name": f"Клієнт {n}", "type": "personal_chat", "id": chat_id},
                                 ensure_ascii=False)[:-1])  # fmt: skip
            out.write(', "messages": [\n')
            out.write(",\n".join(_lines(chat_id, n, per_chat)))
            out.write("\n   ]}\n")
        out.write("  ]\n }\n}\n")
    return chats * per_chat


def _lines(chat_id: int, n: int, per_chat: int) -> Iterable[str]:
    for i in range(1, per_chat + 1):
        text = f"Замовлення {n}-{i}: візитки 500 шт, крейдований папір 350 г/м²"
        yield "    " + json.dumps(message(i, chat_id, mine=i % 2 == 0, text=text,
                                         name=f"Клієнт {n}"), ensure_ascii=False)  # fmt: skip


def _local(unixtime: int) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(unixtime).strftime("%Y-%m-%dT%H:%M:%S")
