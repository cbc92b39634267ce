"""What wraps or sits beside the answer, session blind30 (issue 19): signed and encrypted
mail (S/MIME, PGP/MIME, PGP inline), Outlook's winmail.dat, a text/plain part that lags the
HTML, and answers whose words sit in HTML structure (a table row, a list item holding a
block, Word's list paragraphs, a link's preview card). Each rule both ways: what it drops
or keeps, and the look-alike it leaves alone."""

from __future__ import annotations

import struct
from email.message import EmailMessage

from im2mail.mail.replies import extract, html_to_text
from im2mail.mail.reply.envelopes import unarmour

ANSWER = "Hi Sophie,\n\nYes, 100 menus on cream card are £65, ready on the 3rd.\n\nTom"
OURS = (
    "Sophie Turner\nWhatsApp\n\nHello, could you print 100 wedding menus on cream card? "
    "We need them by the 5th.\n\n-- \nReply to this email to answer in WhatsApp.\n"
)


def _plain(body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Tom Baker <tom@shop.example>"
    msg.set_content(body)
    return msg


# --- PGP inline: the cleartext signature's armour (RFC 4880 section 7) ----------------------

SIGNATURE_BLOCK = (
    "-----BEGIN PGP SIGNATURE-----\n\niHUEARYIAB0WIQQ3BY1qLs08efg/Wd2aDWLUKtDrHAUCaxcGqQAKCRCa\n"
    "h/1JYXl3RgD9EU6GwCMKEdsC+BQiDK6DMfKkiJ+TM4RGMGNSycxDjgU=\n=gLhM\n"
    "-----END PGP SIGNATURE-----\n"
)


def test_a_bottom_posted_clearsigned_reply_reaches_the_customer_without_armour() -> None:
    body = (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
        "* Sophie Turner <orders@shop.example> [2026-11-23 12:05:00 +0000]:\n"
        "> Hello, could you print 100 wedding menus on cream card? We need them\n"
        "> by the 5th.\n\n"
        + ANSWER
        + "\n\n- -- \nTom Baker\nBaker's Print Shop\n"
        + SIGNATURE_BLOCK
    )
    reply = extract(_plain(body), [OURS])
    assert reply.text == ANSWER
    assert "PGP" not in reply.text and "Hash:" not in reply.text


def test_a_top_posted_clearsigned_reply_loses_the_armour_above_and_the_block_below() -> None:
    body = (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + ANSWER + "\n\n"
        "On Mon, 23 Nov 2026 12:05:00 +0000\nSophie Turner <orders@shop.example> wrote:\n\n"
        "> Hello, could you print 100 wedding menus on cream card?\n" + SIGNATURE_BLOCK
    )
    assert extract(_plain(body), [OURS]).text == ANSWER


def test_dash_escaped_lines_come_back_as_the_manager_typed_them() -> None:
    signed = (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nPrices:\n- - A5: £20\n"
        "- - A4: £30\n" + SIGNATURE_BLOCK
    )
    assert unarmour(signed) == "Prices:\n- A5: £20\n- A4: £30\n"


def test_an_armour_line_without_a_signature_block_is_no_armour() -> None:
    text = "The header reads\n-----BEGIN PGP SIGNED MESSAGE-----\n- and then the text."
    assert unarmour(text) == text


def test_an_inline_encrypted_reply_sends_nothing_and_says_why() -> None:
    body = "-----BEGIN PGP MESSAGE-----\n\nhF4DLzMKld1IR6\n=abcd\n-----END PGP MESSAGE-----\n"
    reply = extract(_plain(body), [OURS])
    assert reply.text == "" and reply.unreadable and "encrypted" in reply.unreadable


# --- the parts that sign or wrap a mail -------------------------------------------------------


def _signed(protocol: str, signature: EmailMessage) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "anna@shop.example"
    msg.make_mixed()
    msg.replace_header("Content-Type", f'multipart/signed; protocol="{protocol}"; micalg=sha-256')
    body = EmailMessage()
    body.set_content("Так, замовлення вже чекає на вас.")
    msg.attach(body)
    msg.attach(signature)
    return msg


def test_an_smime_signature_is_no_file_for_the_customer() -> None:
    p7s = EmailMessage()
    p7s.set_content(b"0\x80\x06\t*\x86H\x86\xf7\r\x01\x07\x02", "application", "pkcs7-signature",
                    filename="smime.p7s")  # fmt: skip
    reply = extract(_signed("application/pkcs7-signature", p7s))
    assert reply.text == "Так, замовлення вже чекає на вас."
    assert reply.attachments == () and reply.unreadable is None


def test_a_pgp_signature_and_the_key_the_client_adds_are_no_files_for_the_customer() -> None:
    sig = EmailMessage()
    sig.set_content(SIGNATURE_BLOCK.encode(), "application", "pgp-signature",
                    filename="OpenPGP_signature.asc")  # fmt: skip
    msg = _signed("application/pgp-signature", sig)
    key = EmailMessage()
    key.set_content(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n", "application", "pgp-keys",
                    filename="OpenPGP_0xDE767907F28017EE.asc")  # fmt: skip
    pdf = EmailMessage()
    pdf.set_content(b"%PDF-1.7\n", "application", "pdf", filename="price-list.pdf")
    inner = msg.get_payload()[0]
    inner.make_mixed()
    inner.attach(key)
    inner.attach(pdf)
    reply = extract(msg)
    assert [name for name, _, _ in reply.attachments] == ["price-list.pdf"]  # the manager's


def test_an_encrypted_reply_sends_neither_text_nor_files() -> None:
    msg = EmailMessage()
    msg["From"] = "oksana@shop.example"
    msg.make_mixed()
    msg.replace_header("Content-Type", 'multipart/encrypted; protocol="application/pgp-encrypted"')
    version = EmailMessage()
    version.set_content(b"Version: 1\n", "application", "pgp-encrypted")
    data = EmailMessage()
    data.set_content(b"-----BEGIN PGP MESSAGE-----\n\nhF4D\n-----END PGP MESSAGE-----\n",
                     "application", "octet-stream", filename="encrypted.asc",
                     disposition="inline")  # fmt: skip
    msg.attach(version)
    msg.attach(data)
    reply = extract(msg)
    assert reply.text == "" and reply.attachments == ()
    assert reply.unreadable and "encrypted" in reply.unreadable


def test_an_opaque_signed_smime_reply_is_unreadable_but_an_attached_p7m_file_is_a_file() -> None:
    opaque = EmailMessage()
    opaque.set_content(b"0\x80\x06\t*\x86H\x86\xf7\r\x01\x07\x02", "application", "pkcs7-mime",
                       params={"smime-type": "signed-data"}, filename="smime.p7m")  # fmt: skip
    reply = extract(opaque)
    assert reply.text == "" and reply.attachments == ()
    assert reply.unreadable and "signed" in reply.unreadable

    # An e-invoice signed as a .p7m file (Italy's fattura elettronica) the manager attaches
    invoice = _plain("La fattura è in allegato.")
    invoice.add_attachment(b"0\x80\x06\t*\x86H", "application", "pkcs7-mime",
                           filename="IT01234567890_FPA01.xml.p7m")  # fmt: skip
    reply = extract(invoice)
    assert reply.unreadable is None and reply.text == "La fattura è in allegato."
    assert [name for name, _, _ in reply.attachments] == ["IT01234567890_FPA01.xml.p7m"]


# --- Outlook's winmail.dat (TNEF) ---------------------------------------------------------------


def _tnef(*levels: int) -> bytes:
    out = struct.pack("<IH", 0x223E9F78, 0x4A1C)
    for level in levels:
        data = b"IPM.Microsoft Mail.Note\x00"
        out += struct.pack("<BII", level, 0x00078008, len(data)) + data + b"\x00\x00"
    return out


def _with_winmail(data: bytes) -> EmailMessage:
    msg = _plain("Oui, le tampon coûte 29 € TTC.")
    msg.add_attachment(data, "application", "ms-tnef", filename="winmail.dat")
    return msg


def test_a_winmail_dat_that_repeats_the_message_is_dropped() -> None:
    reply = extract(_with_winmail(_tnef(1, 1)))
    assert reply.text == "Oui, le tampon coûte 29 € TTC."
    assert reply.attachments == () and reply.unreadable is None


def test_files_packed_in_winmail_dat_send_nothing_and_say_why() -> None:
    reply = extract(_with_winmail(_tnef(1, 2, 2)))
    assert reply.text == "" and reply.attachments == ()
    assert reply.unreadable and "winmail.dat" in reply.unreadable


def test_a_file_called_tnef_that_is_no_tnef_stream_stays_a_file() -> None:
    reply = extract(_with_winmail(b"not a TNEF stream"))
    assert [name for name, _, _ in reply.attachments] == ["winmail.dat"]


# --- a text/plain part that lags the HTML ---------------------------------------------------------

PLAIN_QUOTE = "\n\nOn Mon, 23 Nov 2026 Sophie <orders@shop.example> wrote:\n> Hello, menus?\n"
HTML_QUOTE = "<p>On Mon, 23 Nov 2026 Sophie wrote:</p><blockquote>Hello, menus?</blockquote>"


def _alternative(plain: str, html: str) -> EmailMessage:
    msg = _plain(plain)
    msg.add_alternative(f"<html><body>{html}</body></html>", subtype="html")
    return msg


def test_a_stale_plain_part_gives_way_to_the_whole_answer_in_the_html() -> None:
    msg = _alternative(
        "Hi Sophie,\n\n100 menus are £65." + PLAIN_QUOTE,
        "<p>Hi Sophie,</p><p>100 menus are £65.</p><p>They are ready on the 3rd.</p><p>Tom</p>"
        + HTML_QUOTE,
    )
    assert (
        extract(msg, [OURS]).text
        == "Hi Sophie,\n\n100 menus are £65.\n\nThey are ready on the 3rd.\n\nTom"
    )


def test_a_plain_part_that_differs_from_the_html_otherwise_stays() -> None:
    msg = _alternative(
        "Hi Sophie,\n\n100 menus are £65." + PLAIN_QUOTE,
        "<p>Hi Sophie,</p><p>100 menus cost £65 and are ready on the 3rd.</p>" + HTML_QUOTE,
    )
    assert extract(msg, [OURS]).text == "Hi Sophie,\n\n100 menus are £65."


# --- words in HTML structure -------------------------------------------------------------


def test_a_table_row_of_one_line_cells_is_one_line_even_with_paragraphs_in_its_cells() -> None:
    cell = '<td style="border:0.5pt solid windowtext"><p style="margin:0">{}</p></td>'
    rows = [("Qty", "Price"), ("100", "£45"), ("500", "£145")]
    table = "<table>" + "".join("<tr>" + "".join(cell.format(c) for c in r) + "</tr>" for r in rows)
    html = f"<div>Our prices:</div>{table}</table><div>Tom</div>"
    assert html_to_text(html) == "Our prices:\nQty Price\n100 £45\n500 £145\nTom"


def test_a_row_with_a_cell_of_several_lines_keeps_its_lines() -> None:
    html = "<table><tr><td>Delivery</td><td>Kyiv: 1 day<br>Lviv: 2 days</td></tr></table>"
    assert html_to_text(html) == "Delivery\nKyiv: 1 day\nLviv: 2 days"


def test_a_list_item_holding_a_block_keeps_its_marker_on_the_line() -> None:
    html = (
        "<div>We need:</div><ul><li><div>the PDF with bleed,</div></li>"
        "<li><div>fonts embedded.</div></li></ul><ol><li><p>first</p></li></ol>"
    )
    assert html_to_text(html) == "We need:\n- the PDF with bleed,\n- fonts embedded.\n1. first"


def test_word_list_paragraphs_are_numbered_lines() -> None:
    item = (
        "<p class=MsoListParagraphCxSp{} style='text-indent:-18.0pt;mso-list:l0 level1 lfo1'>"
        "<![if !supportLists]><span style='mso-list:Ignore'>{}.<span style='font:7.0pt "
        '"Times New Roman"\'>&nbsp;&nbsp;&nbsp;&nbsp;&nbsp; </span></span><![endif]>{}</p>'
    )
    html = (
        "<p class=MsoNormal>We need:</p>"
        + item.format("First", 1, "your logo,")
        + item.format("Last", 2, "the colour.")
        + "<p class=MsoNormal>&nbsp;</p><p class=MsoNormal>James</p>"
    )
    assert html_to_text(html) == "We need:\n1. your logo,\n2. the colour.\n\nJames"


CARD = (
    '<div contenteditable="false" id="LPBorder_GTaHR0cHM"><table><tr><td>'
    '<a href="{}"><img src="https://shop.example/og.jpg"></a></td><td>'
    '<div><a href="{}">Our file guide | Shop</a></div><div>Bleed, fonts, colours.</div>'
    "<div>shop.example</div></td></tr></table></div>"
)
URL = "https://shop.example/guide"


def test_a_links_preview_card_is_not_the_managers_words_but_the_link_stays() -> None:
    html = (
        f'<div>Our guide: <a href="{URL}">{URL}</a></div>'
        + CARD.format(URL, URL)
        + "<div>Tom</div>"
    )
    assert html_to_text(html) == f"Our guide: {URL}\nTom"


def test_a_block_the_manager_cannot_edit_with_a_link_of_its_own_stays() -> None:
    other = "https://shop.example/book"
    html = f'<div>Our guide: <a href="{URL}">{URL}</a></div>' + CARD.format(other, other)
    assert "Our file guide | Shop" in html_to_text(html)
    # an editable block repeating the link is the manager's own
    editable = CARD.format(URL, URL).replace('contenteditable="false"', "")
    html = f'<div>Our guide: <a href="{URL}">{URL}</a></div>' + editable
    assert "Bleed, fonts, colours." in html_to_text(html)


def test_a_customers_armour_line_quoted_without_markers_blocks_no_reply() -> None:
    # A customer who wrote "-----BEGIN PGP MESSAGE-----" in their message: Outlook quotes
    # it without ">" under the manager's answer; the answer is not taken for ciphertext.
    ours = (
        "Ірина Лисенко\nTelegram\n\n-----BEGIN PGP MESSAGE-----\nце мій ключ, не знаю що це\n"
        "-----END PGP MESSAGE-----\n\n-- \nReply to this email to answer in Telegram.\n"
    )
    body = (
        "Це не потрібно надсилати, все гаразд.\n\n-----Original Message-----\n"
        "From: Ірина Лисенко via Telegram <orders@shop.example>\n"
        "Sent: Monday, November 23, 2026 2:05 PM\nTo: Anna <anna@shop.example>\n"
        "Subject: [Telegram] Ірина Лисенко #1\n\n" + ours
    )
    reply = extract(_plain(body), [ours])
    assert (reply.text, reply.unreadable) == ("Це не потрібно надсилати, все гаразд.", None)
