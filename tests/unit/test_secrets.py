import pytest

from im2mail import errors, secrets
from im2mail.errors import SecretError
from tests.conftest import _reset_keyring


def use_backend(monkeypatch, backend: str) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", backend)
    _reset_keyring()


def test_put_then_get_from_keyring():
    secrets.put("smtp", "s3cret-smtp-pass")
    assert secrets.get("smtp") == "s3cret-smtp-pass"


def test_missing_secret_says_how_to_add_it():
    with pytest.raises(SecretError) as caught:
        secrets.get("bot:shop")
    assert caught.value.exit_code == 4
    assert "bot:shop" in caught.value.message
    assert "im2mail bot add" in caught.value.hint


def test_delete_forgets_and_tolerates_absence():
    secrets.put("imap", "pw-imap-1234")
    secrets.delete("imap")
    secrets.delete("imap")
    with pytest.raises(SecretError):
        secrets.get("imap")


def test_credentials_directory_comes_first(tmp_path, monkeypatch):
    secrets.put("bot:shop", "from-keyring-0000")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "bot-shop").write_text("from-systemd-1111\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert secrets.get("bot:shop") == "from-systemd-1111"


def test_absent_credential_file_falls_back_to_keyring(tmp_path, monkeypatch):
    secrets.put("smtp", "from-keyring-2222")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert secrets.get("smtp") == "from-keyring-2222"


def test_credentials_work_without_any_keyring(tmp_path, monkeypatch):
    use_backend(monkeypatch, "keyring.backends.fail.Keyring")
    (tmp_path / "signing-key").write_text("k" * 64)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert secrets.get("signing-key") == "k" * 64


@pytest.mark.parametrize("backend", ["keyring.backends.fail.Keyring", "no_such_module.Backend"])
def test_unusable_keyring_says_what_to_do(monkeypatch, backend):
    use_backend(monkeypatch, backend)
    for call in (
        lambda: secrets.get("smtp"),
        lambda: secrets.put("smtp", "x" * 8),
        secrets.backend_name,
    ):
        with pytest.raises(SecretError) as caught:
            call()
        assert caught.value.exit_code == 4
        assert "keyrings.alt" in caught.value.hint
        assert "PYTHON_KEYRING_BACKEND" in caught.value.hint
        assert "LoadCredential" in caught.value.hint


def test_backend_name_reports_the_backend():
    assert secrets.backend_name() == "keyrings.alt.file.PlaintextKeyring"


def test_secrets_read_are_redacted_everywhere():
    secrets.put("smtp", "hunter2-very-secret")
    value = secrets.get("smtp")
    assert errors.redact(f"login failed for pass={value}") == "login failed for pass=********"


def test_bot_token_shapes_are_redacted_even_unregistered():
    url = "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0/getMe"
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0" not in errors.redact(url)


def test_new_signing_key_is_32_random_bytes():
    a, b = secrets.new_signing_key(), secrets.new_signing_key()
    assert len(bytes.fromhex(a)) == 32 and a != b
