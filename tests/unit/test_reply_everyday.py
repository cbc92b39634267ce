"""Everyday replies done slightly differently, session blind33 (issue 19): a text/plain
alternative the client hard-wrapped (Gmail breaks it at 78 columns, the HTML keeps the
manager's lines), a first name right under the sign-off with the signature a client set
apart under it, and a signature container that also holds the client's footer (Proton).
Each rule both ways: what it changes, and the look-alike it leaves alone."""

from __future__ import annotations

from email.message import EmailMessage

from im2mail.mail.replies import extract
from im2mail.mail.reply import rewrap, signatures

# --- a hard-wrapped text/plain alternative -------------------------------------------------

TYPED = (
    "Buongiorno Marco,\n\n"
    "Tutti i colori del sito sono disponibili, tranne il verde salvia, che torna a metà dicembre.\n"
    "Le federe si lavano a 40 gradi.\n\nCordiali saluti,\nGiulia"
)
WRAPPED = (
    "Buongiorno Marco,\n\n"
    "Tutti i colori del sito sono disponibili, tranne il verde salvia, che torna a\n"
    "metà dicembre.\nLe federe si lavano a 40 gradi.\n\nCordiali saluti,\nGiulia"
)


def _alternative(plain: str, html: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Giulia Bianchi <giulia@shop.example>"
    msg.set_content(plain)
    msg.add_alternative(html, subtype="html")
    return msg


def _divs(text: str) -> str:
    return "".join(f"<div>{line}</div>" if line else "<div><br></div>" for line in text.split("\n"))


def test_a_line_the_client_hard_wrapped_in_text_plain_goes_as_the_html_has_it() -> None:
    msg = _alternative(WRAPPED + "\n", f'<div dir="ltr">{_divs(TYPED)}</div>')
    assert extract(msg).text == TYPED


def test_lines_the_html_breaks_too_stay_broken() -> None:
    # the manager broke the line where the plain text does: nothing is joined
    html = f'<div dir="ltr">{_divs(WRAPPED)}</div>'
    assert rewrap.as_typed(WRAPPED, WRAPPED) == WRAPPED
    msg = _alternative(WRAPPED + "\n", html)
    assert extract(msg).text == WRAPPED


def test_only_a_long_line_is_a_wrap_and_no_word_moves() -> None:
    # "Так." is short: the manager ended the line there, even if the HTML had joined it
    assert rewrap.as_typed("Так.\nДобре, чекаємо", "Так. Добре, чекаємо") == "Так.\nДобре, чекаємо"
    # the words differ from the HTML's line: nothing is joined
    long = "Доставка до Житомира можлива двома способами, обидва на вибір\nклієнта"
    html_text = "Доставка до Житомира можлива двома способами, обидва на вибір покупця"
    assert rewrap.as_typed(long, html_text) == long


# --- a first name under the sign-off, a signature set apart under it ------------------------

LENA = ("Lena Hoffmann", "lena")


def test_a_lone_name_under_the_sign_off_stays_and_the_block_set_apart_goes() -> None:
    text = (
        "Hallo Frau Wagner,\n\nja, ab dem 7. Dezember.\n\nViele Grüße\nLena\n\n"
        "Hoffmann Keramik · Bergstraße 12 · 69120 Heidelberg\nTel. 06221 123456"
    )
    above, block = signatures.typed(text, LENA)
    assert above == "Hallo Frau Wagner,\n\nja, ab dem 7. Dezember.\n\nViele Grüße\nLena"
    assert block == "Hoffmann Keramik · Bergstraße 12 · 69120 Heidelberg\nTel. 06221 123456"


def test_a_name_glued_to_its_block_still_goes_with_it() -> None:
    # no blank line between the name and the block: the name opens the signature
    text = "Ja.\n\nViele Grüße\nLena Hoffmann\nHoffmann Keramik\nTel. 06221 123456"
    assert signatures.typed(text, LENA) == (
        "Ja.\n\nViele Grüße",
        "Lena Hoffmann\nHoffmann Keramik\nTel. 06221 123456",
    )
    # set apart from the sign-off by a blank line: the name opens the signature too
    text = "Ja.\n\nViele Grüße\n\nLena Hoffmann\n\nKeramik am Neckar\nTel. 06221 123456"
    assert signatures.typed(text, LENA)[0] == "Ja.\n\nViele Grüße"


# --- a signature container that also holds the client's footer -----------------------------


def test_a_marked_signature_holding_the_clients_footer_is_cut_without_it() -> None:
    # the footer went from the text's end as a client's; the container still names it
    text = "Oui, 39 €.\n\nBelle journée,\n\nSavonnerie du Lavoir\n06 12 34 56 78"
    marked = (
        "Savonnerie du Lavoir\n06 12 34 56 78\n\nEnvoyé avec la messagerie sécurisée Proton Mail."
    )
    assert signatures.cut_loose(text, marked) == (
        "Oui, 39 €.\n\nBelle journée,",
        "Savonnerie du Lavoir\n06 12 34 56 78",
    )


def test_a_marked_signature_without_a_footer_is_not_shortened() -> None:
    # only a client's footer may be missing: no cut of half a block
    text = "Oui, 39 €.\n\nSavonnerie du Lavoir"
    marked = "Savonnerie du Lavoir\n\nRue des Lilas 4, Lyon"
    assert signatures.cut_loose(text, marked) == (text, None)
