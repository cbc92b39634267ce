"""`im2mail import telegram-export`: a Telegram Desktop JSON export into the archive."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from im2mail.archive import Archive
from im2mail.importing.telegram_export import ExportFormatError
from im2mail.importing.telegram_import import IMPORTED_BOT, import_export
from im2mail.model import Customer, SearchQuery
from tests.conftest import run_cli
from tests.support import tgexport as tg
from tests.support.archive_sql import reading
from tests.support.bad_names import BAD_MIME, BAD_NAME, assert_clean

MARIA = 7001
PHOTO = b"\x89PNG\r\n\x1a\n" + b"pixels" * 100


def maria_chat() -> dict:
    return tg.chat(MARIA, "Марія (візитки)", [
        tg.message(1, MARIA, text="Добрий день! Скільки коштують візитки?"),
        tg.message(2, MARIA, mine=True, text=["Вітаю! ", {"type": "bold", "text": "500 грн"},
                                              " за 500 шт."]),
        tg.service(3),
        tg.message(4, MARIA, text="Ось макет", photo="photos/photo_4@14-11-2023.jpg",
                   width=800, height=600),
        tg.message(5, MARIA, file=tg.LEFT_OUT, file_name="logo.ai",
                   mime_type="application/postscript", media_type=None, file_size=2048),
        tg.message(6, MARIA, file="stickers/sticker.webp", media_type="sticker",
                   sticker_emoji="👍"),
        tg.message(7, MARIA, mine=True, text="Готово, забирайте", edited="2023-11-15T10:00:00"),
        tg.message(8, MARIA, contact_information={"first_name": "Марія", "last_name": "Коваль",
                                                  "phone_number": "+380501112233"}),
        tg.message(9, MARIA, location_information={"latitude": 50.45, "longitude": 30.52}),
    ])  # fmt: skip


def conversation_messages(archive: Archive, chat_id: int):
    customer = archive.customer("telegram", str(chat_id))
    conv = archive.conversation_for(customer, IMPORTED_BOT)
    with reading(archive) as db:
        found = db.execute("SELECT id FROM messages WHERE conversation_id = ?", (conv.id,))
        ids = sorted(r[0] for r in found)
    return conv, [archive.message(i) for i in ids]


def test_one_chat_comes_in_with_sides_texts_and_files(archive, tmp_path):
    path = tg.write(tmp_path / "export", maria_chat(), {"photos/photo_4@14-11-2023.jpg": PHOTO})

    result = import_export(archive, path)

    assert (result.added, result.already, result.skipped.service) == (8, 0, 1)
    assert (result.files, result.left_out, result.missing) == (1, 1, 1)  # sticker not on disk
    conv, messages = conversation_messages(archive, MARIA)
    assert conv.customer.display_name == "Марія (візитки)"
    assert [m.direction for m in messages] == ["in", "out", "in", "in", "in", "out", "in", "in"]
    assert messages[1].text == "Вітаю! 500 грн за 500 шт."
    assert messages[1].author == tg.OWNER and messages[0].author == "Марія Коваль"
    assert messages[1].delivered == messages[1].created  # it reached her: stats count it
    photo = messages[2]
    assert (photo.kind, photo.text, len(photo.attachments)) == ("photo", "Ось макет", 1)
    assert archive.blob_path(photo.attachments[0].sha256).read_bytes() == PHOTO
    logo = messages[3].attachments[0]
    assert (logo.filename, logo.mime, logo.size, logo.sha256) == (
        "logo.ai", "application/postscript", 2048, None)  # fmt: skip
    assert (messages[4].kind, messages[4].text) == ("sticker", "👍")
    assert messages[5].edited
    assert messages[6].text == "Марія Коваль +380501112233"
    assert messages[7].kind == "location" and "50.45" in messages[7].text
    assert messages[0].created.isoformat() == "2023-11-14T22:14:20+00:00"
    hits = archive.search(SearchQuery(text="коштують"))
    assert [h.message_id for h in hits] == [messages[0].id]


def test_a_second_run_adds_nothing_and_reads_no_file_again(archive, tmp_path):
    path = tg.write(tmp_path / "export", maria_chat(), {"photos/photo_4@14-11-2023.jpg": PHOTO})
    import_export(archive, path)
    (tmp_path / "export" / "photos" / "photo_4@14-11-2023.jpg").unlink()

    again = import_export(archive, path)

    assert (again.added, again.already, again.missing) == (0, 8, 0)
    assert len(conversation_messages(archive, MARIA)[1]) == 8


def test_whole_account_takes_personal_chats_only(archive, tmp_path):
    export = tg.whole_account(
        [
            maria_chat(),
            tg.chat(7002, "Олег", [tg.message(1, 7002, text="Чи є флаєри А5?", name="Олег")]),
            tg.chat(9001, "Друкарі", [tg.message(1, 9001, text="груповий")], "private_group"),
            tg.chat(9002, "Новини", [tg.message(1, 9002, text="канал")], "public_channel"),
            tg.chat(9003, "PrintBot", [tg.message(1, 9003, text="бот")], "bot_chat"),
            tg.chat(tg.OWNER_ID, "", [tg.message(1, 5, text="нотатка")], "saved_messages"),
        ],
        left=[tg.chat(9004, "Старий чат", [tg.message(1, 9004, text="пішов")], "private_group")],
    )
    result = import_export(archive, tg.write(tmp_path / "all", export))

    assert result.added == 9
    assert result.chats == {str(MARIA), "7002"}
    assert dict(result.skipped.chats) == {"private_group": 1, "public_channel": 1,
                                          "bot_chat": 1, "saved_messages": 1}  # fmt: skip
    for word in ("груповий", "канал", "бот", "нотатка", "пішов"):
        assert archive.search(SearchQuery(text=word)) == []
    assert [h.customer for h in archive.search(SearchQuery(text="флаєри"))] == ["Олег"]


def test_a_customer_the_bot_knows_keeps_their_name_and_live_conversation(archive, tmp_path):
    known = archive.upsert_customer(Customer("telegram", str(MARIA), "Марія", "Коваль"))
    live = archive.conversation_for(known, "shop")

    import_export(archive, tg.write(tmp_path / "export", maria_chat()))

    conv, _ = conversation_messages(archive, MARIA)
    assert conv.id != live.id and conv.customer.id == known.id
    assert conv.customer.display_name == "Марія Коваль"
    assert {c.bot for c in archive.conversations()} == {"shop", IMPORTED_BOT}


def test_a_file_path_outside_the_export_is_not_read(archive, tmp_path):
    (tmp_path / "secret.txt").write_text("the owner's secret")
    escape = tg.message(1, MARIA, file="../secret.txt", media_type=None, mime_type="text/plain")
    chat = tg.chat(MARIA, "Марія", [escape])
    result = import_export(archive, tg.write(tmp_path / "export", chat))

    assert (result.files, result.missing) == (0, 1)
    attachment = conversation_messages(archive, MARIA)[1][0].attachments[0]
    assert attachment.sha256 is None


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("<!DOCTYPE html><html><head><title>Exported Data</title>", "not valid JSON"),
        ('[{"id": 1, "text": "hi"}]', "not a JSON object"),
        ('{"conversations": [{"messages": []}]}', "no chat and no messages"),
        ("[12/11/2023, 10:00:00] Марія: Добрий день", "not a JSON object"),
        ("", "is empty"),
        (
            '{"messages": [{"id": 1, "type": "message"}], "type": "personal_chat", "id": 1}',
            "come before its type and id",
        ),
    ],
    ids=["html-export", "json-array", "other-json", "whatsapp-txt", "empty", "reordered"],
)
def test_a_file_that_is_not_an_export_is_refused_and_nothing_is_written(
    archive, tmp_path, content, says
):
    path = tmp_path / "result.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(ExportFormatError, match=says) as caught:
        import_export(archive, path)

    assert "Format: JSON" in caught.value.hint
    assert archive.conversations() == []


def test_an_export_cut_short_keeps_what_came_before_and_a_rerun_completes_it(archive, tmp_path):
    full = tg.write(tmp_path / "full", maria_chat())
    text = full.read_text(encoding="utf-8")
    cut = tmp_path / "cut" / "result.json"
    cut.parent.mkdir()
    cut.write_text(text[: text.index('"id": 6')], encoding="utf-8")

    with pytest.raises(ExportFormatError, match="ends early") as caught:
        import_export(archive, cut)

    assert "(4 message(s) before that point were added)" in caught.value.message
    again = import_export(archive, full)
    assert (again.added, again.already) == (4, 4)


def test_cli_imports_and_summarises(tmp_path):
    export = tg.whole_account(
        [maria_chat(), tg.chat(9001, "Друкарі", [tg.message(1, 9001, text="x")], "private_group")]
    )
    folder = tmp_path / "Telegram Desktop" / "DataExport_2023-11-20"
    tg.write(folder, export, {"photos/photo_4@14-11-2023.jpg": PHOTO})

    first = run_cli("import", "telegram-export", str(folder))
    again = run_cli("import", "telegram-export", str(folder / "result.json"))
    listed = run_cli("conversations", "--json")

    assert first.code == 0, first.both
    assert "imported 8 message(s) from 1 chat(s)" in first.err
    assert "files: 1 stored, 1 not included in the export, 1 missing" in first.err
    assert "left out 1 chat(s) that are not with a person: 1 private group" in first.err
    assert first.out == ""
    assert "imported 0 message(s) from 1 chat(s); 8 were already in the archive" in again.err
    record = json.loads(listed.out)
    assert (record["bot"], record["channel"], record["customer"]) == (
        IMPORTED_BOT, "telegram", "Марія (візитки)")  # fmt: skip


def test_cli_refuses_a_wrong_file_without_a_traceback(tmp_path):
    wrong = tmp_path / "messages.html"
    wrong.write_text("<html><body>Exported Data</body></html>", encoding="utf-8")

    refused = run_cli("import", "telegram-export", str(wrong))
    absent = run_cli("import", "telegram-export", str(tmp_path / "nowhere.json"))

    assert refused.code == 2 and "is not a Telegram Desktop JSON export" in refused.err
    assert "Format: JSON" in refused.err and "Traceback" not in refused.err
    assert absent.code == 2 and "no file at" in absent.err


def test_file_names_and_types_from_the_export_lose_control_characters(archive, tmp_path):
    chat = tg.chat(MARIA, "Марія", [
        tg.message(1, MARIA, file="files/a.pdf", file_name=BAD_NAME, mime_type=BAD_MIME,
                   file_size=4),
        tg.message(2, MARIA, file="files/b%0Ac\nd.txt", file_size=4),
    ])  # fmt: skip
    path = tg.write(tmp_path / "export", chat, {"files/a.pdf": b"%PDF", "files/b%0Ac\nd.txt": b"x"})

    import_export(archive, path)

    _, messages = conversation_messages(archive, MARIA)
    first, second = (m.attachments[0] for m in messages)
    assert_clean(first.filename)
    assert first.mime == "application/octet-stream"
    assert (second.filename, second.mime) == ("b%0Ac d.txt", "text/plain")


def test_a_big_file_in_the_export_is_copied_in_pieces(archive, tmp_path):
    """A 40 MB video from the export's folder goes into the blob store without being
    read into memory whole."""
    video = bytes(range(256)) * (40 * 4096)  # 40 MiB
    chat = tg.chat(MARIA, "Марія", [
        tg.message(1, MARIA, text="Відео з друкарні", file="video_files/v.mp4",
                   media_type="video_file", mime_type="video/mp4"),
    ])  # fmt: skip
    path = tg.write(tmp_path / "export", chat, {"video_files/v.mp4": video})
    del video
    tracemalloc.start()
    try:
        result = import_export(archive, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (result.added, result.files, result.missing) == (1, 1, 0)
    assert peak < 8 * 1024 * 1024, f"the heap peaked at {peak / 2**20:.1f} MiB"
    (_, [message]) = conversation_messages(archive, MARIA)
    (attachment,) = message.attachments
    assert attachment.size == 40 * 2**20
    assert archive.blob_path(attachment.sha256).stat().st_size == 40 * 2**20


def test_a_full_disk_stops_the_import_instead_of_passing_for_a_missing_file(
    archive, tmp_path, monkeypatch
):
    import errno

    from im2mail.archive.blobs import BlobWriter
    from im2mail.errors import ArchiveError

    path = tg.write(tmp_path / "export", maria_chat(), {"photos/photo_4@14-11-2023.jpg": PHOTO})

    def full(self, piece: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(BlobWriter, "write", full)
    with pytest.raises(ArchiveError, match="No space left on device"):
        import_export(archive, path)
    assert [p for p in archive.blobs.root.rglob("*") if p.is_file()] == []
