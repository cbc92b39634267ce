from datetime import date, time, timedelta
from pathlib import Path

import pytest

from im2mail import config
from im2mail.channels import CHANNELS
from im2mail.errors import ConfigError
from tests.conftest import VALID_CONFIG


def load_text(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return config.load(path, channels=CHANNELS)


def test_paths_follow_im2mail_home(isolated_home):
    where = config.paths()
    assert where.config == isolated_home / "config.toml"
    assert where.archive == isolated_home / "archive.db"
    assert where.blobs == isolated_home / "blobs"


def test_paths_default_to_platform_dirs(monkeypatch, tmp_path):
    monkeypatch.delenv("IM2MAIL_HOME")
    where = config.paths()
    assert where.config == tmp_path / "xdg-config" / "im2mail" / "config.toml"
    assert where.archive == tmp_path / "xdg-data" / "im2mail" / "archive.db"


def test_valid_config_is_read_with_defaults(tmp_path):
    cfg = load_text(tmp_path, VALID_CONFIG)
    assert cfg.mail.managers == ("anna@shop.example", "petro@shop.example")
    assert cfg.mail.smtp.port == 587
    assert cfg.mail.imap.folder == "INBOX"
    assert cfg.mail.imap.processed_folder == "im2mail"
    assert cfg.relay.listen == "127.0.0.1:8765"
    assert cfg.relay.greeting.startswith("Вітаємо")
    assert cfg.bots[0].mode == "polling"
    assert cfg.warnings == ()


def test_missing_config_says_run_init(tmp_path):
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path / "nope.toml", channels=CHANNELS)
    assert "no config" in caught.value.message
    assert "im2mail init" in caught.value.hint
    assert caught.value.exit_code == 3


def test_broken_toml_names_the_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, VALID_CONFIG + '\n[relay\nlisten = "x"\n')
    assert "invalid TOML" in caught.value.message
    assert "line" in caught.value.message


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("port = 587", 'port = "587"', "mail.smtp.port: expected an integer"),
        ("port = 587", "port = 70000", "mail.smtp.port: expected a port number"),
        ("port = 587", "port = true", "mail.smtp.port: expected an integer"),
        ('security = "starttls"', 'security = "ssl"', "mail.smtp.security: expected one of"),
        ('address = "orders@shop.example"', 'address = "orders"', "mail.address: 'orders'"),
        (
            'managers = ["anna@shop.example", "petro@shop.example"]',
            "managers = []",
            "mail.managers: needs at least one",
        ),
        (
            'managers = ["anna@shop.example", "petro@shop.example"]',
            'managers = "anna@x.ua"',
            "mail.managers: expected a list of strings",
        ),
        ('"petro@shop.example"', '"petro"', "mail.managers[1]: 'petro' is not an email"),
        (
            'public_url = "https://bot.shop.example"',
            'public_url = "http://bot.shop.example"',
            "relay.public_url: must be https://",
        ),
        ('name = "shop"', 'name = "My Shop"', "bots[0].name: use only"),
        ('channel = "telegram"', 'channel = "signal"', "bots[0].channel: expected one of"),
        (
            '[mail.imap]\nhost = "imap.shop.example"',
            '[mail.imap]\nhost = ""',
            "mail.imap.host: is empty",
        ),
    ],
)
def test_wrong_values_name_the_key(tmp_path, old, new, message):
    assert old in VALID_CONFIG
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, VALID_CONFIG.replace(old, new, 1))
    assert message in caught.value.message
    assert caught.value.exit_code == 3


def test_missing_required_key(tmp_path):
    with pytest.raises(ConfigError, match=r"mail.smtp.username: missing \(required\)"):
        load_text(tmp_path, VALID_CONFIG.replace('username = "orders@shop.example"\n', "", 1))


def test_missing_mail_section(tmp_path):
    with pytest.raises(ConfigError, match="mail: missing section"):
        load_text(tmp_path, '[relay]\nlisten = "127.0.0.1:1"\n')


def test_unknown_keys_are_warnings_not_errors(tmp_path):
    text = VALID_CONFIG.replace("[relay]", '[relay]\ncolour = "blue"') + "\n[extras]\nx = 1\n"
    cfg = load_text(tmp_path, text)
    assert "relay.colour: unknown key, ignored" in cfg.warnings
    assert "extras: unknown key, ignored" in cfg.warnings


def test_plain_security_only_on_loopback(tmp_path):
    with pytest.raises(ConfigError, match=r"mail.smtp.security.*loopback"):
        load_text(tmp_path, VALID_CONFIG.replace('security = "starttls"', 'security = "none"'))
    local = VALID_CONFIG.replace('security = "starttls"', 'security = "none"').replace(
        "smtp.shop.example", "127.0.0.1"
    )
    assert load_text(tmp_path, local).mail.smtp.security == "none"


def test_http_public_url_on_loopback_is_a_warning(tmp_path):
    cfg = load_text(
        tmp_path, VALID_CONFIG.replace("https://bot.shop.example", "http://127.0.0.1:8765")
    )
    assert cfg.relay.public_url == "http://127.0.0.1:8765"
    assert any("plain http" in w for w in cfg.warnings)


def test_webhook_bot_needs_public_url(tmp_path):
    text = VALID_CONFIG.replace('public_url = "https://bot.shop.example"\n', "").replace(
        'channel = "telegram"', 'channel = "telegram"\nmode = "webhook"'
    )
    with pytest.raises(ConfigError, match=r"bots\.shop: telegram webhooks need relay\.public_url"):
        load_text(tmp_path, text)


def test_duplicate_bot_names(tmp_path):
    text = VALID_CONFIG + '\n[[bots]]\nname = "shop"\nchannel = "viber"\n'
    with pytest.raises(ConfigError, match=r"bots\[1\]\.name: 'shop' is used by two bots"):
        load_text(tmp_path, text)


def test_viber_bot_is_webhook_only(tmp_path):
    text = VALID_CONFIG + '\n[[bots]]\nname = "vb"\nchannel = "viber"\nmode = "polling"\n'
    with pytest.raises(ConfigError, match="Viber bots work by webhook only"):
        load_text(tmp_path, text)


def test_not_utf8(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(VALID_CONFIG.replace("Вітаємо", "Привет").encode("cp1251"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load(path, channels=CHANNELS)


def test_write_round_trips_and_validates(tmp_path):
    import tomllib

    data = tomllib.loads(VALID_CONFIG)
    path = tmp_path / "sub" / "config.toml"
    written = config.write(data, path, channels=CHANNELS)
    assert config.load(path, channels=CHANNELS) == written
    data["mail"]["smtp"]["port"] = "x"
    with pytest.raises(ConfigError):
        config.write(data, path, channels=CHANNELS)
    assert config.load(path, channels=CHANNELS) == written  # a bad edit leaves the old file alone


def test_attachment_limit(tmp_path):
    assert load_text(tmp_path, VALID_CONFIG).mail.max_attachment_bytes == 10 * 1024 * 1024
    text = VALID_CONFIG.replace("[mail.smtp]", "max_attachment_mb = 2.5\n\n[mail.smtp]")
    assert load_text(tmp_path, text).mail.max_attachment_bytes == int(2.5 * 1024 * 1024)
    with pytest.raises(ConfigError, match=r"mail\.max_attachment_mb: expected a number"):
        load_text(
            tmp_path, VALID_CONFIG.replace("[mail.smtp]", 'max_attachment_mb = "5"\n[mail.smtp]')
        )


def test_in_doubt_defaults_to_resend_and_takes_notify(tmp_path):
    assert load_text(tmp_path, VALID_CONFIG).relay.in_doubt == "resend"
    notify = VALID_CONFIG.replace("[relay]\n", '[relay]\nin_doubt = "notify"\n', 1)
    assert load_text(tmp_path, notify).relay.in_doubt == "notify"
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, VALID_CONFIG.replace("[relay]\n", '[relay]\nin_doubt = "skip"\n', 1))
    assert "relay.in_doubt: expected one of: resend, notify" in caught.value.message


# -- [hours], [alerts], [templates] ---------------------------------------------------------

HOURS = """
[hours]
zone = "Europe/Kyiv"
mon = "09:00-13:00, 14:00-18:00"
tue = "09:00-18:00"
fri = "22:00-02:00"
sat = "10:00-24:00"
sun = ""
holidays = ["2026-12-25", "2026-12-31..2027-01-02"]
auto_reply = "Ми зараз не працюємо; відповімо з 9:00."
quiet = "21:00-08:00"

[alerts]
unanswered_after = "2h"
digest_to = ["owner@shop.example"]
digest_at = "07:30"
reactions = false

[templates]
price-a4 = "A4: 2 грн за сторінку, кольоровий 8 грн."
hours_2 = "Працюємо з 9 до 18."
"""


def test_sections_are_optional_with_friendly_defaults(tmp_path):
    cfg = load_text(tmp_path, VALID_CONFIG)
    assert cfg.hours is None
    assert cfg.alerts == config.AlertsConfig()
    assert cfg.alerts.unanswered_after == timedelta(minutes=15)
    assert cfg.alerts.digest_to == ()
    assert cfg.alerts.digest_at == time(8, 0)
    assert cfg.alerts.reactions is True  # a reaction to a reply is told its author
    assert cfg.templates == ()
    assert cfg.template("price-a4") is None


def test_hours_alerts_and_templates_are_read(tmp_path):
    cfg = load_text(tmp_path, VALID_CONFIG + HOURS)
    assert cfg.warnings == ()
    hours = cfg.hours
    assert hours.zone == "Europe/Kyiv"
    assert hours.week[0] == ((time(9), time(13)), (time(14), time(18)))
    assert hours.week[2] == ()  # wed absent: closed
    assert hours.week[4] == ((time(22), time(2)),)
    assert hours.week[5] == ((time(10), time(0)),)  # 24:00 is the next midnight
    assert hours.week[6] == ()
    assert hours.holidays == (
        (date(2026, 12, 25), date(2026, 12, 25)),
        (date(2026, 12, 31), date(2027, 1, 2)),
    )
    assert hours.auto_reply.startswith("Ми зараз")
    assert hours.quiet == (time(21), time(8))
    assert cfg.alerts == config.AlertsConfig(
        timedelta(hours=2), ("owner@shop.example",), time(7, 30), reactions=False
    )
    assert cfg.template("price-a4").startswith("A4: 2 грн")
    assert cfg.template(" PRICE-A4 ") == cfg.template("price-a4")  # names ignore case
    assert cfg.template("hours_2") == "Працюємо з 9 до 18."
    assert cfg.template("nope") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [('"15m"', timedelta(minutes=15)), ('"90s"', timedelta(seconds=90)),
     ('"2h"', timedelta(hours=2)), ("30", timedelta(minutes=30)), ('"45"', timedelta(minutes=45)),
     ("0", None), ('"0"', None), ('"0m"', None)],
)  # fmt: skip
def test_unanswered_after_takes_friendly_durations(tmp_path, value, expected):
    cfg = load_text(tmp_path, VALID_CONFIG + f"\n[alerts]\nunanswered_after = {value}\n")
    assert cfg.alerts.unanswered_after == expected


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('zone = "Europe/Kyiv"', 'zone = "Europe/Kyev"',
         "hours.zone: 'Europe/Kyev' is not a known time zone (did you mean 'Europe/Kyiv'?)"),
        ('zone = "Europe/Kyiv"', 'zone = "Mars/Olympus"', "hours.zone: 'Mars/Olympus' is not a"),
        ('zone = "Europe/Kyiv"', 'zone = "../../etc/passwd"', "hours.zone: '../../etc/passwd'"),
        ('zone = "Europe/Kyiv"', "zone = 3", "hours.zone: expected a string"),
        ('zone = "Europe/Kyiv"\n', "", "hours.zone: missing (required)"),
        ('tue = "09:00-18:00"', 'tue = "9-18"', "hours.tue: '9' is not a time like 09:00"),
        ('tue = "09:00-18:00"', 'tue = "09:00"', "hours.tue: '09:00' is not a range"),
        ('tue = "09:00-18:00"', 'tue = "09:00-25:00"', "hours.tue: '25:00' is not a time of day"),
        ('tue = "09:00-18:00"', 'tue = "24:00-08:00"', "hours.tue: '24:00' is not a time of day"),
        ('tue = "09:00-18:00"', 'tue = "09:00-09:00"', "hours.tue: '09:00-09:00' is an empty"),
        ('tue = "09:00-18:00"', 'tue = ["09:00-18:00"]', "hours.tue: expected a string"),
        ('"2026-12-25"', '"2026-12-32"', "hours.holidays[0]: '2026-12-32' is not a date"),
        ('"2026-12-31..2027-01-02"', '"2027-01-02..2026-12-31"',
         "hours.holidays[1]: '2027-01-02..2026-12-31' ends before it starts"),
        ('quiet = "21:00-08:00"', 'quiet = "late"', "hours.quiet: 'late' is not a range"),
        ('unanswered_after = "2h"', 'unanswered_after = "soon"',
         "alerts.unanswered_after: 'soon' is not a duration"),
        ('unanswered_after = "2h"', "unanswered_after = -5", "alerts.unanswered_after: a duration"),
        ('unanswered_after = "2h"', "unanswered_after = true", "alerts.unanswered_after: expected"),
        ('unanswered_after = "2h"', "unanswered_after = 1.5", "alerts.unanswered_after: expected"),
        ('["owner@shop.example"]', '["owner"]', "alerts.digest_to[0]: 'owner' is not an email"),
        ('["owner@shop.example"]', '"owner@shop.example"', "alerts.digest_to: expected a list"),
        ('digest_at = "07:30"', 'digest_at = "7.30am"', "alerts.digest_at: '7.30am' is not a time"),
        ("reactions = false", 'reactions = "no"', "alerts.reactions: expected true or false"),
        ("reactions = false", "reactions = 0", "alerts.reactions: expected true or false"),
        ("price-a4 =", '"Price A4" =', "templates.Price A4: a template name uses only"),
        ('hours_2 = "Працюємо з 9 до 18."', 'hours_2 = "  "', "templates.hours_2: is empty"),
        ('hours_2 = "Працюємо з 9 до 18."', "hours_2 = 5", "templates.hours_2: expected a string"),
    ],
)  # fmt: skip
def test_wrong_hours_alerts_templates_name_the_key(tmp_path, old, new, message):
    text = VALID_CONFIG + HOURS
    assert old in text
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text.replace(old, new, 1))
    assert message in caught.value.message
    assert caught.value.exit_code == 3


def test_a_week_without_open_time_is_refused_at_load(tmp_path):
    closed = '\n[hours]\nzone = "Europe/Kyiv"\nmon = ""\nauto_reply = "closed"\n'
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, VALID_CONFIG + closed)
    assert caught.value.message == "hours: no open time in the week"


def test_unknown_hours_keys_are_warnings(tmp_path):
    text = (VALID_CONFIG + HOURS).replace('sun = ""', 'sun = ""\nmonday = "09:00-10:00"')
    assert "hours.monday: unknown key, ignored" in load_text(tmp_path, text).warnings


def test_write_round_trips_the_new_sections(tmp_path):
    import tomllib

    data = tomllib.loads(VALID_CONFIG + HOURS)
    path = tmp_path / "config.toml"
    written = config.write(data, path, channels=CHANNELS)
    assert config.load(path, channels=CHANNELS) == written
    assert written.hours.holidays[1][1] == date(2027, 1, 2)


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ('"mx.google.com"', "mx.google.com"),
        ('" MX.Google.com "', "mx.google.com"),
        ('"*.messagingengine.com"', "*.messagingengine.com"),
        ('"microsoft365"', "microsoft365"),
        ('"mail.shop.example"', "mail.shop.example"),
    ],
)
def test_authserv_id_is_read(tmp_path, value, read):
    text = VALID_CONFIG.replace("[mail.smtp]", f"authserv_id = {value}\n\n[mail.smtp]", 1)
    assert load_text(tmp_path, text).mail.authserv_id == read
    assert load_text(tmp_path, VALID_CONFIG).mail.authserv_id is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('""', "is not an authserv-id"),
        ('"mx google"', "is not an authserv-id"),
        ('"mx.google.com; dkim=pass"', "is not an authserv-id"),
        ('"*"', "is not an authserv-id"),
        ('"*.com"', "matches too much"),
        ("1", "expected a string"),
    ],
)
def test_a_bad_authserv_id_names_the_key(tmp_path, value, message):
    text = VALID_CONFIG.replace("[mail.smtp]", f"authserv_id = {value}\n\n[mail.smtp]", 1)
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, text)
    assert e.value.message.startswith("mail.authserv_id: ") and message in e.value.message


def test_telegram_download_cap_is_20_mb_unless_a_local_server_lifts_it(tmp_path):
    """Telegram's own server hands bots files up to 20 MB; a local Bot API server (its
    address in api_url) up to 2000 MB, and max_download_mb may then say how much."""
    assert load_text(tmp_path, VALID_CONFIG).bots[0].options["max_download_mb"] == 20
    local = VALID_CONFIG.replace(
        'channel = "telegram"',
        'channel = "telegram"\napi_url = "http://127.0.0.1:8081"\nmax_download_mb = 500',
    )
    assert load_text(tmp_path, local).bots[0].options["max_download_mb"] == 500
    official = VALID_CONFIG.replace(
        'channel = "telegram"', 'channel = "telegram"\nmax_download_mb = 50'
    )
    with pytest.raises(ConfigError, match=r"bots\[0\]\.max_download_mb: .*local Bot API server"):
        load_text(tmp_path, official)
    for wrong in ("0", "2001", '"20"'):
        text = local.replace("max_download_mb = 500", f"max_download_mb = {wrong}")
        with pytest.raises(ConfigError, match=r"bots\[0\]\.max_download_mb"):
            load_text(tmp_path, text)
    viber = VALID_CONFIG + '\n[[bots]]\nname = "vb"\nchannel = "viber"\nmax_download_mb = 5\n'
    assert any("max_download_mb" in w for w in load_text(tmp_path, viber).warnings)
