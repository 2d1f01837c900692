"""What a command imports is what cron pays for on every run: each command, in a fresh interpreter,
leaves out the libraries it has no use for (bench/startup.py measures what that saves)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import SECRET

PLATFORM_SDKS = {"discord", "telegram", "nio"}
MIGRATIONS = {"alembic", "mako", "pygments"}
"""Only an upgrade runs migrations; every other start reads the revision without them."""

# The CLI in a fresh interpreter; prints the modules it loaded.
WRAPPER = """
import json, sys
from dockwatch.bot.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def imported(*argv: str) -> set[str]:
    """Every module the command loaded, and the top-level package of each (``sqlalchemy`` for
    ``sqlalchemy.orm``)."""
    process = subprocess.run(
        [sys.executable, "-c", WRAPPER, *argv], capture_output=True, text=True, timeout=120, check=True
    )
    loaded: list[str] = json.loads(process.stdout.strip().splitlines()[-1])
    return set(loaded) | {name.split(".")[0] for name in loaded}


def webhook_only(tmp_path: Path) -> Path:
    """LL2 at a port nothing listens on: poll-once fails its fetch, after importing all it needs."""
    config = tmp_path / "dockwatch.toml"
    config.write_text(
        f'[api]\nbase_url = "http://127.0.0.1:9/2.3.0"\n'
        f'[storage]\nurl = "sqlite:///{tmp_path}/dockwatch.db"\n'
        f'[[webhooks]]\nurl = "http://127.0.0.1:9/hook"\nsecret = "{SECRET}"\n'
    )
    return config


def upgraded(config: Path) -> Path:
    """The database of ``config`` created and at this version's schema, as after the first start."""
    subprocess.run(
        [sys.executable, "-m", "dockwatch", "db", "upgrade", "--config", str(config)],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return config


def test_version_imports_no_asyncio_database_http_or_platform_library() -> None:
    loaded = imported("--version")
    heavy = {"asyncio", "aiohttp", "pydantic", "sqlalchemy", "sqlmodel", "alembic", "apscheduler"}
    assert loaded & (heavy | PLATFORM_SDKS) == set()


def test_check_config_on_a_new_database_imports_no_database_library_http_client_or_platform_sdk(
    tmp_path: Path,
) -> None:
    """A plain ``sqlite:///`` URL is read without SQLAlchemy (storage/urls.py)."""
    loaded = imported("check-config", "--config", str(webhook_only(tmp_path)))
    assert "dockwatch.bot.config" in loaded  # the command ran
    unused = {"aiohttp", "sqlalchemy", "sqlmodel", "dockwatch.storage.store", "dockwatch.bot.pipeline"}
    unused |= MIGRATIONS
    assert loaded & (unused | PLATFORM_SDKS) == set()


def test_poll_once_with_webhook_targets_only_imports_no_platform_sdk(tmp_path: Path) -> None:
    loaded = imported("-q", "poll-once", "--config", str(webhook_only(tmp_path)))
    assert "dockwatch.bot.pipeline" in loaded  # the command ran
    assert loaded & PLATFORM_SDKS == set()


def test_check_config_on_a_current_sqlite_database_imports_no_database_library_http_client_or_sdk(
    tmp_path: Path,
) -> None:
    """The revision and the moves are read with the standard library's sqlite3 (storage/peek.py)."""
    loaded = imported("check-config", "--config", str(upgraded(webhook_only(tmp_path))))
    assert "dockwatch.storage.peek" in loaded  # it read the database
    unused = {
        "aiohttp",
        "sqlalchemy",
        "sqlmodel",
        "aiosqlite",
        "dockwatch.storage.store",
        "dockwatch.bot.pipeline",
    }
    assert loaded & (unused | MIGRATIONS | PLATFORM_SDKS) == set()


def test_poll_once_on_a_current_sqlite_database_imports_no_migrations_or_postgresql_dialect(
    tmp_path: Path,
) -> None:
    loaded = imported("-q", "poll-once", "--config", str(upgraded(webhook_only(tmp_path))))
    assert "dockwatch.bot.pipeline" in loaded  # the command ran
    assert loaded & (MIGRATIONS | {"sqlalchemy.dialects.postgresql"} | PLATFORM_SDKS) == set()


def test_poll_once_on_a_new_database_upgrades_it(tmp_path: Path) -> None:
    """The other side of the guard above: the upgrade path still loads alembic and runs it."""
    loaded = imported("-q", "poll-once", "--config", str(webhook_only(tmp_path)))
    assert "alembic" in loaded


def test_the_web_app_loads_the_calendar_and_feed_writers_only_when_one_is_served() -> None:
    # What `run` imports for its web endpoint; icalendar and feedgen (with lxml) come with a request.
    probe = "import json, sys, dockwatch.bot.web; print(json.dumps(sorted(sys.modules)))"
    process = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in json.loads(process.stdout)}
    assert "dockwatch" in loaded
    assert loaded & {"icalendar", "feedgen", "lxml"} == set()
