"""Exports of the archive for people and other programs: an mbox (mbox.py) that mutt,
notmuch and Thunderbird read, and self-contained, sanitized HTML pages (html.py, with
templates/ beside it); select.py picks the conversations and writes files safely."""
