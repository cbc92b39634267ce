"""What servers and programs on the way add to a reply (mail/reply/added_blocks.py, footers.py):
a marking stamped at the top and at the very end, a tag block under a framed title at the
end, a footer naming a product by its trademark sign, a footer with its icon's line."""

from __future__ import annotations

from email.message import EmailMessage

from im2mail.mail.replies import extract, strip_text

QUOTE = "Am 23.11.2026 um 13:05 schrieb Kunde <orders@shop.example>:\n> Haben Sie Umschläge C5?\n"


def _mail(body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Anna <anna@shop.example>"
    msg["Subject"] = "Re: Frage"
    msg.set_content(body)
    return msg


def test_a_marking_stamped_above_the_answer_and_at_the_very_end_goes() -> None:
    body = "Label: Intern\n\nJa, 500 Stück bis Mittwoch.\n\n" + QUOTE + "\nLabel: Intern\n"
    assert extract(_mail(body)).text == "Ja, 500 Stück bis Mittwoch."


def test_a_managers_first_line_not_repeated_at_the_end_stays() -> None:
    body = "Label: Intern\n\nJa, 500 Stück bis Mittwoch.\n\n" + QUOTE
    assert extract(_mail(body)).text.startswith("Label: Intern")


def test_a_tag_block_under_a_framed_title_at_the_end_is_cut() -> None:
    text = (
        QUOTE + "\nJa, 500 Stück bis Mittwoch.\n\n\n"
        "_______ Information from Scanner 9, database 4711 (20261123) _______\n\n"
        "The message was checked by Scanner 9.\n\nhttp://www.scanner.example\n"
    )
    assert strip_text(text) == "Ja, 500 Stück bis Mittwoch."


def test_a_managers_framed_heading_over_a_price_list_stays() -> None:
    text = "Unsere Preise:\n\n----- Preise 2026 -----\nA4: 5 €\nA3: 9 €\n"
    assert "A3: 9 €" in strip_text(text)
    linked = "Preise:\n\n----- Preise 2026 -----\nA4: 5 €\nAlle: https://shop.example/p\n"
    assert "Alle: https://shop.example/p" in strip_text(linked)


def test_a_footer_naming_a_product_by_its_trademark_sign_goes() -> None:
    text = "Ja, 20 Becher bis Freitag.\n\n" + QUOTE + "\n\nThis message was secured by Xyz(R).\n"
    assert strip_text(text) == "Ja, 20 Becher bis Freitag."


def test_a_client_footer_goes_with_its_icons_line_above_it() -> None:
    text = (
        "Ja, 300 Aufkleber bis Dienstag.\n\n\n[https://cdn.example/icon.png]\n"
        "Sent with Mailbird [https://app.example/?utm=sent]\n"
    )
    assert strip_text(text) == "Ja, 300 Aufkleber bis Dienstag."
    # a picture's link of the manager's, under no footer, stays
    own = "Ja, so sieht er aus:\n\n[https://shop.example/becher.png]\n"
    assert strip_text(own).endswith("[https://shop.example/becher.png]")
