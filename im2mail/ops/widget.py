"""`im2mail widget`: buttons and QR codes for the shop's website and flyers.

Each bot gets a deep link that carries a lead source tag, as its channel makes it (its
spec's deep_link): Telegram's `https://t.me/<username>?start=<source>` (the `/start`
payload), Viber's `viber://pa?chatURI=<uri>&context=<source>` (the conversation's
`context`). The relay
stores the tag on the customer, and `im2mail stats` counts leads per source, so a page or
a flyer with its own tag shows what it brought.

What is written is static: an HTML fragment (`widget.html`: links, inline styles and
inline SVG QR codes; no script, nothing loaded from elsewhere), a page around it to look
at in a browser (`preview.html`), and a QR code per bot as PNG and SVG for print. Nothing
here talks to the network: who each bot is comes in as `BotInfo` (see bots.identify).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import quote

from ..channels import CHANNELS, BotInfo, spec
from ..channels import title as channel_title
from ..config import BotConfig
from ..errors import NotFound, RuntimeFailure, UsageError

DEFAULT_SOURCE = "site"
# What every deep link keeps whole: Telegram's /start payload ([A-Za-z0-9_-]{1,64}, see
# channels/telegram/parse._PAYLOAD) and Viber's context, stored cut to 64 characters.
SOURCE = re.compile(r"[A-Za-z0-9_-]{1,64}")

WIDGET_FILE = "widget.html"
PREVIEW_FILE = "preview.html"
QR_SCALE = 10  # pixels per module in the PNG and SVG files (print)
QR_BORDER = 4  # the quiet zone the QR standard asks for, in modules
INLINE_SCALE = 4  # pixels per module of the QR code inside the snippet


@dataclass(frozen=True)
class BotLink:
    """One button: the bot's name in config.toml, its channel, its title as the platform
    shows it, and the deep link with the source tag."""

    bot: str
    channel: str
    title: str
    url: str


def check_source(source: str) -> str:
    """The tag itself, or UsageError (exit 2) when either platform would lose it."""
    if not SOURCE.fullmatch(source):
        raise UsageError(
            f"'{source}' cannot be a lead source tag: use 1 to 64 of A-Z, a-z, 0-9, _ and -",
            hint="a messenger drops any other link payload; e.g. --source flyer-may",
        )
    return source


def link_url(channel: str, username: str, source: str) -> str:
    """The deep link that opens a chat with the bot, tagged with `source`."""
    tag = quote(check_source(source), safe="")
    deep_link = CHANNELS[channel].deep_link if channel in CHANNELS else None
    if deep_link is None:
        raise UsageError(f"no deep link for channel '{channel}'")
    return deep_link(username, tag)


def links(pairs: Iterable[tuple[BotConfig, BotInfo]], source: str) -> list[BotLink]:
    """A BotLink per bot, in the order given. A bot the platform gives no public name
    (its spec's `handle`: Telegram @username, Viber account URI) has no link:
    RuntimeFailure (exit 1); no bot at all is NotFound (exit 5)."""
    check_source(source)
    pairs = list(pairs)
    if not pairs:
        raise NotFound("there is no bot to link to", hint="add one with: im2mail bot add")
    out = []
    for bot, info in pairs:
        if not info.username:
            about = spec(bot.channel)
            raise RuntimeFailure(
                f"bot '{bot.name}' has no {about.handle} on {about.title}, so nothing can "
                "link to it",
                hint="set one for the bot on the platform, or leave it out with --bot",
            )
        title = info.name or bot.name
        out.append(
            BotLink(bot.name, bot.channel, title, link_url(bot.channel, info.username, source))
        )
    return out


# -- HTML --------------------------------------------------------------------------------------


def snippet(bot_links: Sequence[BotLink]) -> str:
    """The HTML fragment to paste into a page: one button per bot with its QR code under
    it. Inline styles only; every text and URL escaped; no script."""
    items = "\n".join(_item(link) for link in bot_links)
    return (
        '<div class="im2mail-widget" style="display:flex;flex-wrap:wrap;gap:24px;'
        "justify-content:center;font-family:system-ui,-apple-system,Segoe UI,Roboto,"
        'Arial,sans-serif">\n'
        f"{items}\n"
        "</div>\n"
    )


def _item(link: BotLink) -> str:
    channel = channel_title(link.channel)
    colour = spec(link.channel).colour
    label = f"{link.title} — {channel}"
    return (
        '  <div class="im2mail-bot" style="display:flex;flex-direction:column;'
        'align-items:center;gap:8px;text-align:center">\n'
        f'    <a href="{escape(link.url)}" title="{escape(label)}" rel="noopener" '
        f'style="display:inline-block;padding:10px 20px;border-radius:22px;'
        f"background:{colour};color:#ffffff;text-decoration:none;font-weight:600;"
        f'font-size:16px;line-height:1.2">{escape(channel)}</a>\n'
        f'    <div style="font-size:14px;color:#333333">{escape(link.title)}</div>\n'
        f'    <div role="img" aria-label="{escape(f"QR code: {label}")}">{_svg(link.url)}</div>\n'
        "  </div>"
    )


def _svg(url: str) -> str:
    return _qr(url).svg_inline(
        scale=INLINE_SCALE, border=QR_BORDER, light="#ffffff", svgclass="im2mail-qr"
    )


def preview(bot_links: Sequence[BotLink], source: str) -> str:
    """A whole page around the snippet, to look at it in a browser before pasting it.
    Its Content-Security-Policy allows no script and nothing from elsewhere."""
    rows = "\n".join(
        f"<li>{escape(link.bot)} ({escape(channel_title(link.channel))}): "
        f"<code>{escape(link.url)}</code></li>"
        for link in bot_links
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>im2mail widget preview: {escape(source)}</title>\n"
        "</head>\n"
        '<body style="margin:40px auto;max-width:900px;font-family:system-ui,sans-serif">\n'
        f'<h1 style="font-size:20px">Lead source: <code>{escape(source)}</code></h1>\n'
        f"{snippet(bot_links)}"
        '<ul style="margin-top:32px;font-size:14px;color:#555555">\n'
        f"{rows}\n</ul>\n"
        "</body>\n</html>\n"
    )


# -- files -------------------------------------------------------------------------------------


def file_names(bot_links: Sequence[BotLink]) -> list[str]:
    """What write() puts in the folder, in order."""
    names = [WIDGET_FILE, PREVIEW_FILE]
    for link in bot_links:
        names += [f"{link.bot}.png", f"{link.bot}.svg"]
    return names


def write(
    folder: Path, bot_links: Sequence[BotLink], source: str, force: bool = False
) -> list[Path]:
    """Write the snippet, the preview and each bot's QR codes into `folder` (made when
    missing; its parent must exist). An existing file of ours is replaced only with force
    (UsageError, exit 2, before anything is written); other files there are left alone."""
    folder = folder.expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a folder", hint="choose another one with -o")
    targets = [folder / name for name in file_names(bot_links)]
    taken = [path for path in targets if path.exists()]
    if taken and not force:
        shown = ", ".join(path.name for path in taken[:3]) + (", …" if len(taken) > 3 else "")
        raise UsageError(
            f"{folder} already holds {shown}: not overwriting",
            hint="add --force to replace them, or choose another folder with -o",
        )
    try:
        folder.mkdir(exist_ok=True)
    except FileNotFoundError:
        raise RuntimeFailure(
            f"cannot write {folder}: the folder {folder.parent} does not exist",
            hint="create it first, or choose another folder with -o",
        ) from None
    except OSError as e:
        raise _unwritable(folder, e) from None
    page = snippet(bot_links)
    _put(targets[0], lambda out: out.write(page.encode()))
    whole = preview(bot_links, source)
    _put(targets[1], lambda out: out.write(whole.encode()))
    for link, png, svg in zip(bot_links, targets[2::2], targets[3::2], strict=True):
        qr = _qr(link.url)
        _put(png, lambda out, qr=qr: qr.save(out, kind="png", scale=QR_SCALE, border=QR_BORDER))
        _put(
            svg,
            lambda out, qr=qr: qr.save(
                out, kind="svg", scale=QR_SCALE, border=QR_BORDER, light="#ffffff"
            ),
        )
    return targets


def _put(path: Path, fill) -> None:
    """`fill(binary file)` into a temporary file beside `path`, then renamed onto it: a
    failure leaves the old file (or none), never half of one."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as e:
        raise _unwritable(path, e) from None
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            fill(out)
        temp.chmod(0o644 & ~_umask())
        temp.replace(path)
    except OSError as e:
        _remove(temp)
        raise _unwritable(path, e) from None
    except BaseException:
        _remove(temp)
        raise


def _qr(url: str):
    import segno

    # Always a full QR code: segno.make would pick a Micro QR for short links, which
    # phone cameras do not read.
    return segno.make_qr(url, error="m")


def _unwritable(path: Path, e: OSError) -> RuntimeFailure:
    return RuntimeFailure(
        f"cannot write {path}: {e.strerror or e}",
        hint="check the path, its permissions and the free disk space",
    )


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
