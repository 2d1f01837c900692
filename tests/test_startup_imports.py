"""What a command imports is what cron pays for on every run: each command, in a fresh interpreter,
leaves out the libraries it has no use for (bench/startup.py measures what that saves)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import SECRET

PLATFORM_SDKS = {"discord", "telegram", "nio"}

# The CLI in a fresh interpreter; prints the top-level packages (and dockwatch modules) it loaded.
WRAPPER = """
import json, sys
from dockwatch.bot.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
loaded = {name if name.startswith("dockwatch.") else name.split(".")[0] for name in sys.modules}
print(json.dumps(sorted(loaded)))
"""


def imported(*argv: str) -> set[str]:
    process = subprocess.run(
        [sys.executable, "-c", WRAPPER, *argv], capture_output=True, text=True, timeout=120, check=True
    )
    loaded: list[str] = json.loads(process.stdout.strip().splitlines()[-1])
    return set(loaded)


def webhook_only(tmp_path: Path) -> Path:
    """LL2 at a port nothing listens on: poll-once fails its fetch, after importing all it needs."""
    config = tmp_path / "dockwatch.toml"
    config.write_text(
        f'[api]\nbase_url = "http://127.0.0.1:9/2.3.0"\n'
        f'[storage]\nurl = "sqlite:///{tmp_path}/dockwatch.db"\n'
        f'[[webhooks]]\nurl = "http://127.0.0.1:9/hook"\nsecret = "{SECRET}"\n'
    )
    return config


def test_version_imports_no_asyncio_database_http_or_platform_library() -> None:
    loaded = imported("--version")
    heavy = {"asyncio", "aiohttp", "pydantic", "sqlalchemy", "sqlmodel", "alembic", "apscheduler"}
    assert loaded & (heavy | PLATFORM_SDKS) == set()


def test_check_config_on_a_new_database_imports_no_store_http_client_or_platform_sdk(
    tmp_path: Path,
) -> None:
    loaded = imported("check-config", "--config", str(webhook_only(tmp_path)))
    assert "dockwatch.bot.config" in loaded  # the command ran
    unused = {"aiohttp", "sqlmodel", "alembic", "dockwatch.storage.store", "dockwatch.bot.pipeline"}
    assert loaded & (unused | PLATFORM_SDKS) == set()


def test_poll_once_with_webhook_targets_only_imports_no_platform_sdk(tmp_path: Path) -> None:
    loaded = imported("-q", "poll-once", "--config", str(webhook_only(tmp_path)))
    assert "dockwatch.bot.pipeline" in loaded  # the command ran
    assert loaded & PLATFORM_SDKS == set()


def test_the_web_app_loads_the_calendar_and_feed_writers_only_when_one_is_served() -> None:
    # What `run` imports for its web endpoint; icalendar and feedgen (with lxml) come with a request.
    probe = "import json, sys, dockwatch.bot.web; print(json.dumps(sorted(sys.modules)))"
    process = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in json.loads(process.stdout)}
    assert "dockwatch" in loaded
    assert loaded & {"icalendar", "feedgen", "lxml"} == set()
