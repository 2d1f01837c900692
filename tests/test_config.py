"""Configuration: TOML plus environment, validated once; every problem is one line naming file and key."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from dockwatch.bot.config import Config, config_from_mapping, load_config
from dockwatch.bot.errors import ConfigError
from tests.conftest import SECRET
from tests.test_cli import assert_one_line_error, dockwatch


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dockwatch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, environ: Mapping[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), {} if environ is None else environ)


def config_error(path: Path, environ: Mapping[str, str] | None = None) -> str:
    """Load ``path``, expect a ``ConfigError`` and return its message."""
    with pytest.raises(ConfigError) as caught:
        load_config(path, {} if environ is None else environ)
    return str(caught.value)


def webhook(url: str = "https://example.org/hook", secret: str | None = None) -> str:
    return f'[[webhooks]]\nurl = "{url}"\nsecret = "{secret or new_secret()}"\n'


# --- defaults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (lambda c: c.api.base_url, "https://ll.thespacedevs.com/2.3.0"),
        (lambda c: c.api.requests_per_hour, 14),
        (lambda c: c.api.api_key.get_secret_value(), ""),
        (lambda c: c.detect.stale_after, timedelta(hours=48)),
        (lambda c: c.detect.webcast_window, timedelta(hours=3)),
        (lambda c: c.platforms.get("webhooks", []), []),
    ],
    ids=[
        "base_url",
        "requests_per_hour",
        "no api_key",
        "stale_after 48h",
        "webcast_window 3h",
        "no webhooks",
    ],
)
def test_an_empty_file_is_valid_and_yields_the_documented_defaults(
    tmp_path: Path, read: Callable[[Config], object], expected: object
) -> None:
    config = load(tmp_path, "")

    assert read(config) == expected


def test_the_default_storage_is_a_sqlite_file_next_to_the_config_file(tmp_path: Path) -> None:
    config = load(tmp_path, "")

    url = make_url(config.storage.url)
    assert url.get_backend_name() == "sqlite"
    assert url.database == str((tmp_path / "dockwatch.db").resolve())


def test_keys_left_out_of_a_section_keep_their_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, '[api]\napi_key = "k"\n')

    assert config.api.base_url == "https://ll.thespacedevs.com/2.3.0"
    assert config.api.requests_per_hour == 14


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("48h", timedelta(hours=48)),
        ("7d", timedelta(days=7)),
    ],
    ids=["seconds", "minutes", "hours", "days"],
)
def test_stale_after_accepts_an_integer_and_a_unit(tmp_path: Path, text: str, expected: timedelta) -> None:
    config = load(tmp_path, f'[detect]\nstale_after = "{text}"\n')

    assert config.detect.stale_after == expected


def test_webcast_window_is_read_from_the_file_and_from_the_environment(tmp_path: Path) -> None:
    from_file = load(tmp_path, '[detect]\nwebcast_window = "90m"\n')
    from_env = load(tmp_path, "", {"DOCKWATCH_DETECT__WEBCAST_WINDOW": "6h"})

    assert (from_file.detect.webcast_window, from_env.detect.webcast_window) == (
        timedelta(minutes=90),
        timedelta(hours=6),
    )


def test_a_trailing_slash_on_base_url_is_dropped(tmp_path: Path) -> None:
    config = load(tmp_path, '[api]\nbase_url = "https://mirror.example.org/2.3.0/"\n')

    assert config.api.base_url == "https://mirror.example.org/2.3.0"


# --- errors: one line naming file and key ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('colour = "red"\n', "unknown key colour"),
        ("[api]\nfoo = 1\n", "unknown key api.foo"),
        ("[storage]\npath = 'x.db'\n", "unknown key storage.path"),
        (webhook() + 'colour = "red"\n', "unknown key webhooks.0.colour"),
        ('[api]\nbase_url = "ftp://ll.thespacedevs.com/2.3.0"\n', "api.base_url"),
        ('[api]\nbase_url = "ll.thespacedevs.com/2.3.0"\n', "api.base_url"),
        ('[api]\nbase_url = "https://"\n', "api.base_url"),
        ('[detect]\nstale_after = "48 hours"\n', "detect.stale_after"),
        ('[detect]\nwebcast_window = "3 hours"\n', "detect.webcast_window"),
        ('[detect]\nwebcast_window = "0m"\n', "detect.webcast_window"),
        ("[detect]\nwebcast_window = 3\n", "detect.webcast_window"),
        ("[api]\nrequests_per_hour = 0\n", "api.requests_per_hour"),
        ('[api]\nrequests_per_hour = "many"\n', "api.requests_per_hour"),
        ('[storage]\nurl = "mysql://db.example.org/dockwatch"\n', "storage.url"),
        ('[storage]\nurl = "not a url"\n', "storage.url"),
        (webhook(url="ftp://example.org/hook"), "webhooks.0.url"),
        (webhook(secret="s3cr3t-without-prefix"), "webhooks.0.secret"),
        (webhook(secret="whsec_not*base64*at*all"), "webhooks.0.secret"),
        (webhook(secret="whsec_" + base64.b64encode(b"15 bytes only!!").decode()), "webhooks.0.secret"),
        (webhook() + webhook(url="ftp://example.org/second"), "webhooks.1.url"),
        ('[run]\nfailover = "4s"\n', "run.failover: must be at least 5s, got 4s"),
        ('[run]\nfailover = "2 minutes"\n', "run.failover"),
    ],
    ids=[
        "unknown top-level key",
        "unknown key in api",
        "unknown key in storage",
        "unknown key in a webhook",
        "base_url not http(s)",
        "base_url without scheme",
        "base_url without host",
        "stale_after not a duration",
        "webcast_window not a duration",
        "webcast_window zero",
        "webcast_window a bare number",
        "requests_per_hour zero",
        "requests_per_hour not a number",
        "storage url of an unsupported database",
        "storage url not a URL",
        "webhook url ftp",
        "webhook secret without whsec_ prefix",
        "webhook secret not base64",
        "webhook secret too short",
        "second webhook url ftp",
        "failover shorter than the minimum",
        "failover not a duration",
    ],
)
def test_an_invalid_setting_is_a_one_line_config_error_naming_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)

    message = config_error(path)

    assert "\n" not in message
    assert str(path) in message
    assert expected in message


def test_failover_defaults_to_two_minutes_and_takes_any_duration_from_five_seconds(tmp_path: Path) -> None:
    assert load(tmp_path, "").run.failover == timedelta(minutes=2)
    assert load(tmp_path, '[run]\nfailover = "5s"\n').run.failover == timedelta(seconds=5)
    assert load(tmp_path, "", {"DOCKWATCH_RUN__FAILOVER": "30s"}).run.failover == timedelta(seconds=30)


def test_invalid_toml_is_a_one_line_config_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[api\nbase_url = \n")

    message = config_error(path)

    assert "\n" not in message
    assert str(path) in message
    assert "TOML" in message


def test_a_missing_file_is_a_one_line_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "dockwatch.toml"

    message = config_error(path)

    assert "\n" not in message
    assert str(path) in message
    assert "not found" in message


@pytest.mark.parametrize(
    "secret",
    ["s3cr3t-without-prefix-0123456789", "whsec_not*base64*but*private", "whsec_c2hvcnRzZWNyZXQ="],
    ids=["no prefix", "not base64", "too short"],
)
def test_a_rejected_webhook_secret_is_not_echoed_in_the_error(tmp_path: Path, secret: str) -> None:
    path = write(tmp_path, webhook(secret=secret))

    message = config_error(path)

    assert "webhooks.0.secret" in message
    assert secret not in message
    assert secret.removeprefix("whsec_") not in message


def test_a_webhook_url_without_its_scheme_is_shown_as_written_but_masked(tmp_path: Path) -> None:
    path = write(tmp_path, webhook(url="hooks.example.com/hook/token-8c1f2e"))

    message = config_error(path)

    assert message.endswith("webhooks.0.url: must be an http(s) URL, got 'hooks.example.com/…'")


def test_a_rejected_webhook_url_does_not_echo_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, webhook(url="ftp://example.org/hooks/token-8c1f2e"))

    message = config_error(path)

    assert "webhooks.0.url" in message
    assert "token-8c1f2e" not in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql:/user:s3cret@db.example/dockwatch", "'postgresql:/***@db.example/dockwatch'"),
        ("user:s3cret@db.example/dockwatch", "'user:***@db.example/dockwatch'"),
    ],
    ids=["one slash short", "no scheme"],
)
def test_a_malformed_storage_url_is_shown_without_its_password(tmp_path: Path, url: str, shown: str) -> None:
    path = write(tmp_path, f'[storage]\nurl = "{url}"\n')

    message = config_error(path)

    assert "storage.url" in message and shown in message
    assert "s3cret" not in message


# --- ${ENV_NAME} references ------------------------------------------------------------------------


def test_a_webhook_secret_may_reference_an_environment_variable(tmp_path: Path) -> None:
    secret = new_secret()

    config = load(tmp_path, webhook(secret="${HOOK_SECRET}"), {"HOOK_SECRET": secret})

    assert config.platforms["webhooks"][0].secret.get_secret_value() == secret


def test_the_api_key_may_reference_an_environment_variable(tmp_path: Path) -> None:
    config = load(tmp_path, '[api]\napi_key = "${LL2_TOKEN}"\n', {"LL2_TOKEN": "0a1b2c3d4e5f"})

    assert config.api.api_key.get_secret_value() == "0a1b2c3d4e5f"


def test_a_reference_to_a_missing_variable_is_an_error_naming_key_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, webhook(secret="${HOOK_SECRET}"))

    message = config_error(path, {"OTHER": "x"})

    assert "\n" not in message
    assert str(path) in message
    assert "webhooks.0.secret" in message
    assert "HOOK_SECRET" in message


# --- environment overrides -------------------------------------------------------------------------


def test_the_api_key_can_come_from_the_environment(tmp_path: Path) -> None:
    config = load(tmp_path, "", {"DOCKWATCH_API__API_KEY": "0a1b2c3d4e5f"})

    assert config.api.api_key.get_secret_value() == "0a1b2c3d4e5f"


def test_a_numeric_environment_override_becomes_an_integer_and_wins_over_the_file(tmp_path: Path) -> None:
    config = load(tmp_path, "[api]\nrequests_per_hour = 10\n", {"DOCKWATCH_API__REQUESTS_PER_HOUR": "30"})

    assert config.api.requests_per_hour == 30
    assert type(config.api.requests_per_hour) is int


def test_an_environment_override_can_set_a_field_of_a_list_item(tmp_path: Path) -> None:
    secret = new_secret()
    text = webhook(url="https://first.example.org/hook", secret=secret) + webhook(
        url="https://second.example.org/hook"
    )

    config = load(tmp_path, text, {"DOCKWATCH_WEBHOOKS__0__URL": "https://replaced.example.org/hook"})

    assert [w.url for w in config.platforms["webhooks"]] == [
        "https://replaced.example.org/hook",
        "https://second.example.org/hook",
    ]
    assert config.platforms["webhooks"][0].secret.get_secret_value() == secret


def test_an_environment_override_is_validated_like_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")

    message = config_error(path, {"DOCKWATCH_API__REQUESTS_PER_HOUR": "0"})

    assert "\n" not in message
    assert "api.requests_per_hour" in message


def test_an_environment_override_of_an_unknown_key_is_rejected_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "")

    message = config_error(path, {"DOCKWATCH_API__FOO": "1"})

    assert "unknown key api.foo" in message


def test_variables_without_the_dockwatch_prefix_are_ignored(tmp_path: Path) -> None:
    config = load(tmp_path, "", {"API__API_KEY": "x", "HOME": "/root", "DOCKWATCH_CONFIG": "/etc/x.toml"})

    assert config == load(tmp_path, "")


# --- storage URL -----------------------------------------------------------------------------------


def test_a_relative_sqlite_path_is_anchored_at_the_config_files_directory(tmp_path: Path) -> None:
    config = load(tmp_path, '[storage]\nurl = "sqlite:///state/dockwatch.db"\n')

    url = make_url(config.storage.url)
    assert url.get_backend_name() == "sqlite"
    assert url.database == str((tmp_path / "state" / "dockwatch.db").resolve())


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/dockwatch/state.db",
        "postgresql://dockwatch@db.example.org:5432/dockwatch",
        "postgresql+asyncpg://dockwatch@db.example.org/dockwatch",
    ],
    ids=["absolute sqlite path", "postgresql", "postgresql with driver"],
)
def test_other_storage_urls_are_left_untouched(tmp_path: Path, url: str) -> None:
    config = load(tmp_path, f'[storage]\nurl = "{url}"\n')

    assert config.storage.url == url


def test_config_from_mapping_without_a_base_dir_leaves_a_relative_sqlite_path_alone() -> None:
    config = config_from_mapping({"storage": {"url": "sqlite:///dockwatch.db"}}, source="inline", environ={})

    assert config.storage.url == "sqlite:///dockwatch.db"


def test_config_from_mapping_names_its_source_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"api": {"foo": 1}}, source="<inline settings>", environ={})

    assert str(caught.value) == "<inline settings>: unknown key api.foo"


# --- secrets stay secret ---------------------------------------------------------------------------


@pytest.mark.parametrize("render", [repr, str], ids=["repr", "str"])
def test_secrets_never_appear_when_the_config_is_rendered(
    tmp_path: Path, render: Callable[[object], str]
) -> None:
    api_key = "0a1b2c3d4e5f60718293"
    secret = new_secret()
    from_env = new_secret()
    text = f'[api]\napi_key = "{api_key}"\n' + webhook(secret=secret) + webhook(secret="${SECOND_SECRET}")

    config = load(tmp_path, text, {"SECOND_SECRET": from_env})
    shown = render(config)

    assert config.api.api_key.get_secret_value() == api_key
    assert [w.secret.get_secret_value() for w in config.platforms["webhooks"]] == [secret, from_env]
    for value in (api_key, secret, from_env, secret.removeprefix("whsec_"), from_env.removeprefix("whsec_")):
        assert value not in shown


def test_a_numeric_looking_api_key_from_the_environment_stays_a_string(tmp_path: Path) -> None:
    config = load(tmp_path, "", {"DOCKWATCH_API__API_KEY": "12345"})

    assert config.api.api_key.get_secret_value() == "12345"


def test_webhook_targets_can_be_created_from_the_environment_alone(tmp_path: Path) -> None:
    secret = new_secret()
    environ = {
        "DOCKWATCH_WEBHOOKS__0__URL": "https://hooks.example.org/a",
        "DOCKWATCH_WEBHOOKS__0__SECRET": secret,
        "DOCKWATCH_WEBHOOKS__1__URL": "https://hooks.example.org/b",
        "DOCKWATCH_WEBHOOKS__1__SECRET": secret,
    }

    config = load(tmp_path, "", environ)

    assert [w.url for w in config.platforms["webhooks"]] == [
        "https://hooks.example.org/a",
        "https://hooks.example.org/b",
    ]


def test_an_environment_list_index_with_a_gap_is_rejected_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DOCKWATCH_WEBHOOKS__3__URL"):
        load(tmp_path, "", {"DOCKWATCH_WEBHOOKS__3__URL": "https://x.test/"})


def test_urls_that_may_carry_credentials_are_not_rendered(tmp_path: Path) -> None:
    text = '[storage]\nurl = "postgresql://dock:pa55word@db.internal/dockwatch"\n'
    text += webhook(secret=new_secret()).replace("https://", "https://hooks.example.org/T0K3N-")

    shown = repr(load(tmp_path, text, {}))

    assert "pa55word" not in shown and "T0K3N" not in shown


def test_every_built_in_platform_is_registered_under_its_config_table() -> None:
    from dockwatch.notifiers import platforms

    assert {"webhooks", "telegram", "discord", "ntfy", "matrix", "console"} <= set(platforms())
    assert all(table == platform.table for table, platform in platforms().items())


def test_the_example_config_documents_every_key_with_its_default() -> None:
    import tomllib

    from dockwatch.bot.config import Config, config_from_mapping
    from dockwatch.notifiers import platforms

    example = Path(__file__).parents[1] / "config.example.toml"
    data = tomllib.loads(example.read_text(encoding="utf-8"))

    parsed = config_from_mapping(data, source="example", environ={})

    assert parsed == Config()
    text = example.read_text(encoding="utf-8")
    for table, model in Config.model_fields.items():
        if table == "platforms":
            continue
        section = model.annotation
        assert section is not None and set(data[table]) == set(section.model_fields), table
    for table, platform in platforms().items():  # optional platforms: documented commented out
        opening = f"# [[{table}]]" if platform.many else f"# [{table}]"
        assert opening in text, table
        for key in platform.settings_model.model_fields:
            assert f"# {key} = " in text, (table, key)


@pytest.mark.parametrize(
    ("tables", "accepted"),
    [
        ({"discord": {"token": "x"}}, True),  # channels subscribe with /dockwatch subscribe
        (
            {"telegram": {"token": "1:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}},
            True,
        ),  # chats subscribe with /subscribe
        ({"console": {}}, True),
    ],
    ids=["discord bot", "telegram bot", "console"],
)
def test_a_config_that_can_never_deliver_is_refused(tables: dict[str, object], accepted: bool) -> None:
    from dockwatch.bot.config import require_targets
    from dockwatch.bot.errors import ConfigError

    config = config_from_mapping(tables, source="inline", environ={})

    if accepted:
        require_targets(config, "inline")
    else:
        with pytest.raises(
            ConfigError, match=r"^inline: no delivery targets \(\[discord\] configures none\)"
        ):
            require_targets(config, "inline")


def test_a_discord_api_base_url_must_be_a_url() -> None:
    from dockwatch.bot.errors import ConfigError

    with pytest.raises(ConfigError, match=r"discord\.api_base_url: must be an http"):
        config_from_mapping({"discord": {"api_base_url": "notaurl"}}, source="inline", environ={})


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://"])
def test_an_in_memory_database_is_refused_because_nothing_would_ever_be_announced(url: str) -> None:
    from dockwatch.bot.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^inline: storage\.url: an in-memory database forgets everything"):
        config_from_mapping({"storage": {"url": url}}, source="inline", environ={})


def test_postgresql_without_the_postgres_extra_names_the_extra_to_install(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "dockwatch.toml"
    config.write_text('[storage]\nurl = "postgresql://u@db.example.org/dockwatch"\n[console]\n')
    probe = (
        "import sys\nsys.modules['asyncpg'] = None  # as if the extra were not installed\n"
        "from dockwatch.bot.cli import main\n"
        f"raise SystemExit(main(['check-config', '--config', {str(config)!r}]))\n"
    )

    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)

    assert run.returncode == 2
    assert run.stderr.strip() == (
        f"dockwatch: config error: {config}: storage.url: PostgreSQL needs the postgres extra: "
        "pip install 'dockwatch-ll2[postgres]'"
    )


def test_an_environment_variable_for_a_table_that_does_not_exist_is_named() -> None:
    from dockwatch.bot.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        config_from_mapping(
            {},
            source="f.toml",
            environ={"DOCKWATCH_TELEGRAMM__TOKEN": "1:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
        )

    assert str(caught.value) == (
        "f.toml: environment DOCKWATCH_TELEGRAMM__TOKEN: no table 'telegramm' (did you mean 'telegram'?)"
    )


def test_an_unknown_key_from_the_environment_names_the_variable() -> None:
    from dockwatch.bot.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        config_from_mapping({}, source="f.toml", environ={"DOCKWATCH_API__URLL": "x"})

    assert str(caught.value) == "f.toml: unknown key api.urll (set by environment DOCKWATCH_API__URLL)"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"api": {"base_urll": "x"}}, "unknown key api.base_urll (did you mean 'base_url'?)"),
        (
            {"webhooks": [{"url": "https://x.test/h", "secret": SECRET, "nmae": "ops"}]},
            "unknown key webhooks.0.nmae (did you mean 'name'?)",
        ),
        (
            {"telegram": {"token": "1:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "chat_id": [1]}},
            "unknown key telegram.chat_id (did you mean 'chat_ids'?)",
        ),
        (
            {"webhooks": [{"urll": "https://x.test/h", "secret": SECRET}]},
            "unknown key webhooks.0.urll (did you mean 'url'?)",
        ),
        (
            {"telegram": {"tokenn": "1:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "chat_ids": [1]}},
            "unknown key telegram.tokenn (did you mean 'token'?)",
        ),
    ],
    ids=["core table", "array of tables", "platform table", "a required key", "a required platform key"],
)
def test_a_mistyped_key_gets_a_did_you_mean(data: dict[str, object], message: str) -> None:
    from dockwatch.bot.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        config_from_mapping(data, source="f.toml", environ={})

    assert str(caught.value) == f"f.toml: {message}"


def test_requests_per_hour_true_is_not_a_number() -> None:
    from dockwatch.bot.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^f\.toml: api\.requests_per_hour: must be an integer, got true$"):
        config_from_mapping({"api": {"requests_per_hour": True}}, source="f.toml", environ={})


def test_a_utf8_bom_at_the_start_of_the_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "dockwatch.toml"
    path.write_bytes(b"\xef\xbb\xbf[api]\nrequests_per_hour = 20\n")

    assert load_config(path, environ={}).api.requests_per_hour == 20


def test_list_keys_can_be_set_from_the_environment_as_json_or_comma_separated() -> None:
    environ = {
        "DOCKWATCH_TELEGRAM__TOKEN": "1:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "DOCKWATCH_TELEGRAM__CHAT_IDS": "-100123, @launches",
        "DOCKWATCH_DISCORD__CHANNEL_IDS": "[223456789012345678, 323456789012345678]",
        "DOCKWATCH_DISCORD__TOKEN": "bot-token",
        "DOCKWATCH_DISCORD__WEBHOOK_URLS": f"{HOOK_A}, {HOOK_B}",
    }

    config = config_from_mapping({}, source="f.toml", environ=environ)

    assert config.platforms["telegram"].chat_ids == [-100123, "@launches"]
    assert config.platforms["discord"].channel_ids == [223456789012345678, 323456789012345678]
    assert config.platforms["discord"].webhook_urls == [HOOK_A, HOOK_B]


HOOK_A = "https://discord.com/api/webhooks/123456789012345678/" + "a" * 68
HOOK_B = "https://discord.com/api/webhooks/223456789012345678/" + "b" * 68


def test_a_numeric_chat_id_written_as_a_string_is_a_chat_id() -> None:
    config = config_from_mapping(
        {"telegram": {"token": "1:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "chat_ids": ["${CHAT}"]}},
        source="f.toml",
        environ={"CHAT": "-100123"},
    )

    assert config.platforms["telegram"].chat_ids == [-100123]


@pytest.mark.parametrize("token", ["abc", "", "123:short", "abc:" + "x" * 40, "123:" + "x" * 34 + "!"])
def test_a_telegram_token_that_cannot_be_one_is_refused_without_echoing_it(token: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"telegram": {"token": token}}, source="f.toml", environ={})

    assert str(caught.value).startswith("f.toml: telegram.token: is not a bot token")
    assert not token or token not in str(caught.value)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "discord: configures nothing: add webhook_urls, or a bot token"),
        ({"api_base_url": "https://proxy.example.org/api/v10"}, "discord: configures nothing"),
        ({"channel_ids": [223456789012345678]}, "discord: channel_ids needs a bot token"),
    ],
    ids=["empty", "only an API URL", "channels without a token"],
)
def test_a_discord_table_that_can_never_deliver_is_refused(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"discord": table}, source="f.toml", environ={})

    assert str(caught.value).startswith(f"f.toml: {message}")


# --- reminders, quiet hours and time zone, as `check-config` (the real CLI) takes them -------------

TELEGRAM = "[telegram]\ntoken = '1:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'\nchat_ids = [111]\n"
DISCORD = f"[discord]\nwebhook_urls = ['{HOOK_A}']\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (TELEGRAM + 'reminders = ["2m"]\n', "telegram.reminders: lead time '2m' must be from 5m to 7d"),
        (
            TELEGRAM + 'reminders = ["1h", "2h", "3h", "4h", "5h"]\n',
            "telegram.reminders: at most 4 lead times, got 5",
        ),
        (webhook() + 'reminders = ["8d"]\n', "webhooks.0.reminders: lead time '8d' must be from 5m to 7d"),
        (DISCORD + "reminders = [60]\n", "discord.reminders: a lead time is a duration like '1h' or '10m'"),
        (
            webhook() + 'quiet = "22:00-07:00"\n',
            "webhooks.0.quiet: webhooks get no quiet hours (a receiving system does not sleep)",
        ),
        (
            TELEGRAM + 'quiet = "25:00-07:00"\n',
            "telegram.quiet: '25:00-07:00': hours are 0-23 and minutes 0-59",
        ),
        (DISCORD + 'quiet = "22:00"\n', "discord.quiet: '22:00': quiet hours are HH:MM-HH:MM"),
        (
            TELEGRAM + 'timezone = "Europe/Berln"\n',
            "telegram.timezone: 'Europe/Berln' is not a time zone name like 'Europe/Berlin' "
            "(did you mean 'Europe/Berlin'?)",
        ),
    ],
    ids=[
        "lead shorter than 5m",
        "five lead times",
        "lead longer than 7d",
        "lead not a duration",
        "quiet hours on a webhook",
        "hour 25",
        "quiet hours without an end",
        "misspelt zone",
    ],
)
async def test_check_config_refuses_a_choice_that_cannot_work_in_one_line_naming_the_key(
    tmp_path: Path, text: str, line: str
) -> None:
    path = write(tmp_path, text)

    run = await dockwatch("check-config", "--config", str(path))

    assert run.code == 2
    assert_one_line_error(run, f"dockwatch: config error: {path}: {line}")


async def test_check_config_shows_each_targets_configured_choices_on_one_line(tmp_path: Path) -> None:
    text = TELEGRAM + 'reminders = ["10m", "1h"]\nquiet = "22:00-07:00 digest"\ntimezone = "europe/berlin"\n'
    path = write(tmp_path, text + webhook() + 'reminders = ["1d"]\n')

    run = await dockwatch("check-config", "--config", str(path))

    assert run.code == 0, run.err
    assert "  preferences            2 targets\n" in run.out
    chosen = "reminders 1h and 10m before, quiet 22:00-07:00 digest, time zone Europe/Berlin"
    assert f"    telegram:111  {chosen}\n" in run.out
    assert "  reminders 1d before\n" in run.out


async def test_reminders_from_the_environment_are_comma_separated(tmp_path: Path) -> None:
    path = write(tmp_path, TELEGRAM)

    run = await dockwatch(
        "check-config", "--config", str(path), env={"DOCKWATCH_TELEGRAM__REMINDERS": "1h,10m"}
    )

    assert run.code == 0, run.err
    assert "    telegram:111  reminders 1h and 10m before\n" in run.out


async def test_reminders_written_as_one_string_are_read_like_the_environment_form(tmp_path: Path) -> None:
    """Every list key accepts text (the environment can give nothing else), so ``"1h"`` is one lead time."""
    path = write(tmp_path, TELEGRAM + 'reminders = "1h"\n')

    run = await dockwatch("check-config", "--config", str(path))

    assert run.code == 0, run.err
    assert "    telegram:111  reminders 1h before\n" in run.out


@pytest.mark.parametrize("key", ["quiet", "timezone"])
async def test_an_empty_quiet_or_timezone_is_unset_as_the_example_config_shows_it(
    tmp_path: Path, key: str
) -> None:
    path = write(tmp_path, TELEGRAM + f'{key} = ""\n')

    run = await dockwatch("check-config", "--config", str(path))

    assert run.code == 0, run.err
    assert "preferences" not in run.out
