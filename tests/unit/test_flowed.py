"""format=flowed (RFC 3676) decoding: what a Thunderbird or Roundcube reply's soft line
breaks become before the reply is read."""

from __future__ import annotations

from im2mail.mail.reply.flowed import unflow


def test_soft_breaks_join_and_hard_breaks_stay() -> None:
    text = "one two \r\nthree\r\nfour\r\n"
    assert unflow(text) == "one two three\nfour\n"


def test_delsp_removes_the_space_that_marks_the_break() -> None:
    assert unflow("дов \r\nге слово\r\n", delsp=True) == "довге слово\n"


def test_quoted_lines_join_at_their_own_depth_and_stay_quoted() -> None:
    text = "> a \r\n> b\r\n>> c \r\n>> d\r\ne\r\n"
    assert unflow(text) == "> a b\n> > c d\ne\n"


def test_a_soft_line_before_another_depth_counts_as_hard() -> None:
    assert unflow("answer \r\n> quoted\r\n") == "answer \n> quoted\n"


def test_space_stuffing_is_removed_and_the_signature_separator_kept() -> None:
    text = " From the shop\r\n-- \r\nAnna\r\n"
    assert unflow(text) == "From the shop\n-- \nAnna\n"


def test_broken_flowed_text_gives_text_not_an_error() -> None:
    assert unflow(">>> \r\n> \r\n \r\n") == "> > > \n> \n\n"  # each depth kept, no join
    assert unflow("") == ""
    assert unflow("no newline at the end ") == "no newline at the end "
    long = "слово " * 50_000  # one soft-broken line of 300 KB
    assert unflow(long + "\r\nend\r\n") == long + "end\n"
