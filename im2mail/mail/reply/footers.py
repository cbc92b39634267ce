"""Client footers: the line a mail app adds to what the manager wrote ("Sent from my
iPhone", "Von meinem iPhone gesendet", "Get Outlook for Android<https://aka.ms/…>"),
read by its shape whatever the client's language: short, naming a mail app or device and
saying it sent the mail (or offering the app). It goes when it stands alone at the end,
or first, above all the manager typed (a phone put it at the top); a line of the
manager's naming a device ("Є чохли для iPhone 15.") or an app in a sentence stays.
"""

from __future__ import annotations

import re

# The footer line a mobile client writes under what the manager typed ("Sent from my
# iPhone"): where a reply ends (reply_shapes.is_signature_start).
MOBILE_SIG = re.compile(
    r"^(Sent from my .{1,80}|Sent from (Mail|Outlook|Yahoo Mail)\b.{0,80}"
    r"|Get Outlook for (iOS|Android).{0,40}"
    r"|Отправлено с (iPhone|iPad|моего .{1,60})\.?|Надіслано з (iPhone|iPad|мого .{1,60})\.?"
    r"|Відправлено з (iPhone|iPad|мого .{1,60})\.?"
    r"|Отправлено из мобильной Яндекс[. ]Почты.{0,40}|Отправлено из мобильной Почты Mail\.ru.{0,40}"
    r"|Отправлено из Mail\.ru для (Android|iOS|iPhone).{0,40}"
    r"|Надіслано з мобільної .{1,60})$",
    re.I,
)
# A mail app or device a client footer names, in any language ("Von meinem iPhone
# gesendet", "Sent with Proton Mail secure email.", "Wysłane z aplikacji Outlook").
_CLIENT_BRAND = re.compile(
    r"(?<![A-Za-z0-9_])(iPhon\w*|iPad\w*|iOS|Android\w*|Samsung|Galaxy|Huawei|Xiaomi|Outlook|Proton\s?Mail|Tuta"
    r"|Tutanota|Yahoo|AOL|BlueMail|Spark|Gmail|Mail\.ru|Yandex|Яндекс|eM Client|FairEmail"
    r"|K-9|Thunderbird"
    # Windows' Mail app, never Windows alone ("Підходить для Windows 11." is the manager's)
    r"|(?:E-?mail|Mail|Courrier|Correo|Posta|Poczta|Почта|Пошта)\s+\S{1,6}\s+Windows)\b",
    re.I,
)
# Mail apps whose names are also words ("nine", "spark"): named by a footer only at its
# end ("Trimis de pe Nine", "Sent with Spike"), capitalised.
_APP_AT_END = re.compile(
    r"\b(Nine|Canary|Spike|Newton|Edison|Airmail|Aqua ?Mail|MailDroid|myMail|Mailbird|Postbox"
    r"|Superhuman|Boxer|TypeApp|Fastmail|Zoho Mail|Mailspring|Evolution|KMail|Geary)"
    r"(?: (?:Mail|Email|App))?(?: (?:for|для|für|pour|para|per|dla|pro) \w+)?[.!]?$"
)
# What every client footer says besides the app's name: that the mail was sent (or written,
# or secured) with it, or an invitation to get the app. A last line that only names a device
# is the manager's ("Є чохли для iPhone 15.", "Підійде і для Android."), never a footer.
_FOOTER_VERB = re.compile(
    r"(?<!\w)(sent|sended|written|secured|get|download|gesendet|versendet|verschickt"
    r"|geschrieben|hol|holen|herunterladen|beziehen|obter|skaffa|hanki|let[öo]lt[ée]se|envoy[ée]e?|[ée]crit|obtenez|t[ée]l[ée]charge[zr]?"
    r"|enviad[oa]|envi[ée]|escrito|obt[ée]n(er|ga|ha)?|obtenha|desc[aá]rg(a|ue|uelo)|baix[ea]"
    r"|inviat[oa]|scritto|ottieni|scarica|trimis|descarc[aă]|ob[țţt]ine(?:[țţt]i)?"
    r"|wys[łl]an[eoay]|napisan[eoay]|pobierz|odesl[áa]no|odoslan[éeáa]|z[ií]skejte|st[áa]hn[ěe]te"
    r"|g[öo]nderil(di|en)|g[öo]nderildi|edinin|indirin|l[äa]hetetty|lataa|verzonden|verstuurd"
    r"|download(en)?|skickat|skickad|h[äa]mta|sendt|hent|f[åa]|k[üu]ldve|k[üu]ld[öo]tt|t[öo]ltse"
    r"|изпратено|изтеглете|poslan[oaé]|poslato|послато|преузми|preuzmi"
    r"|отправлено|отправлен[ао]|написано|скачайте|скачать|получите|получить|загрузите"
    r"|надіслано|надіслане|відправлено|відправлене|написано|завантажте|отримайте|отримати"
    r"|στάλθηκε|εστάλη|αποστολή|נשלח|dikirim|terkirim|g[ửu]i)(?!\w)"
    r"|发送|發送|发自|發自|寄自|傳送|送信|보냄|전송"  # written without spaces around them
    r"|\b(iPhone|iPad|Android|Galaxy)\S*(dan|den|tan|ten)\b",  # Turkish "iPhone'umdan"
    re.I,
)
_FOOTER_WORDS = 12

# A link a footer carries after the app's name, as text alternatives write links:
# "( https://… )" or "<https://…>".
_TRAILING_LINK = re.compile(
    r"\s*(?:\(\s*|<|\[)(?:https?://|www\.)[^\s()<>\[\]]+\s*[)>\]]\s*$", re.I
)  # or "[https://…]", as other converters write a link
# A product's name as its maker writes it, with a trademark sign ("Zix®", "Zix(R)"):
# a mail app's or a service's, named by its footer, whatever the product.
_TRADEMARK = re.compile(r"(?:[^\W_]|>)(?:®|™|\((?:R|TM)\))(?!\w)")  # ">": its link between
# A picture's link on a line of its own ("[https://…/icon.png]", "<https://…>"): the icon
# a footer shows above its text.
_ICON_LINE = re.compile(r"^\s*[\[<](?:https?://)[^\s<>\[\]]+[\]>]\s*$", re.I)
# A footer that is a link, as a plain-text alternative writes it: the link glued to its
# text's end ("Android үшін Outlook қолданбасын алыңыз<https://aka.ms/…>"), whatever the
# language of the invitation, naming a mail app (not only a device: "Інструкція для
# iPhone<https://…>" is the manager's link).
_LINKED_TEXT = re.compile(r"[^\W_]<https?://[^<>\s]+>$")
_DEVICE = re.compile(r"(iPhon|iPad|iOS|Android|Samsung|Galaxy|Huawei|Xiaomi)", re.I)


def is_footer(line: str) -> bool:
    """One short line that names a mail app or device and says it sent the mail (or
    offers the app), in any language, a link after it or not ("Sent via App ( https://…
    )"); or a link glued to text that names a mail app."""
    raw = line.strip()
    line = _TRAILING_LINK.sub("", raw).strip()
    if len(line.split()) > _FOOTER_WORDS:
        return False
    named = _CLIENT_BRAND.search(line) or _TRADEMARK.search(line)
    offers = named and _FOOTER_VERB.search(line)
    linked = _LINKED_TEXT.search(raw) and _names_mail_app(raw)
    return bool(_APP_AT_END.search(line) or offers or linked)


def _names_mail_app(line: str) -> bool:
    text = line[: line.rfind("<")]
    return any(not _DEVICE.match(m.group(1)) for m in _CLIENT_BRAND.finditer(text))


def drop_client_footer(kept: list[str]) -> None:
    """A client's footer at the end: the last paragraph, alone, one line (is_footer),
    with the line of its icon's link above it, if any.
    Anything longer, or not last, or only naming a device, is the manager's ("Надішлемо
    фото з iPhone за хвилину" followed by more text, "Є чохли для iPhone 15." stay)."""
    end = len(kept)
    while end and not kept[end - 1].strip():
        end -= 1
    if end < 2:
        return
    start = end - 1  # the footer's line, and the line of its icon right above it, if any
    if start and _ICON_LINE.match(kept[start - 1]):
        start -= 1
    if start < 1 or kept[start - 1].strip():
        return  # not a paragraph of its own, or nothing above it to keep
    if is_footer(kept[end - 1]):
        del kept[start:]


def drop_leading_footer(kept: list[str]) -> None:
    """A client's footer standing FIRST, above all the manager wrote: a phone puts it
    under an empty line at the top and the manager typed under it ("Надіслано з iPhone"
    then the answer), or typed nothing at all. One short line of the footer's shape
    without a comma: a sentence of the manager's naming an app ("Відправлено з
    Android-додатку Нової пошти, ТТН …") goes on."""
    start = 0
    while start < len(kept) and not kept[start].strip():
        start += 1
    if start == len(kept) or "," in kept[start]:
        return
    line = kept[start].strip()
    if not (MOBILE_SIG.match(line) or is_footer(line)):
        return
    end = start + 1
    while end < len(kept) and not kept[end].strip():
        end += 1
    del kept[:end]
