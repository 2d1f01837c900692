"""A platform from another installed package: examples/platform-plugin, installed with pip, delivers
through ``poll-once`` exactly like a built-in one."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockwatch.bot.model import ChangeKind, Revision
from tests.builders import correction_of, ll2_docking, messages_of_every_kind
from tests.fakes.ll2 import FakeLL2
from tests.test_cli import dockwatch

PLUGIN = Path(__file__).parents[1] / "examples" / "platform-plugin"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin installed by pip into a directory of its own (put on PYTHONPATH)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(PLUGIN)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


async def test_an_installed_plugin_platform_receives_a_docking_through_poll_once(
    tmp_path: Path, fake_ll2: FakeLL2, plugin_path: Path
) -> None:
    lines = tmp_path / "notifications.jsonl"
    config = tmp_path / "dockwatch.toml"
    config.write_text(
        f'[api]\nbase_url = "{fake_ll2.base_url}"\n[storage]\nurl = "sqlite:///state.db"\n'
        f'[jsonl]\npath = "{lines}"\n'
    )
    env = {"PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")])}
    checked = await dockwatch("check-config", "--config", str(config), env=env)
    assert (await dockwatch("poll-once", "--config", str(config), env=env)).code == 0
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(minutes=1))]

    run = await dockwatch("poll-once", "--config", str(config), env=env)
    again = await dockwatch("poll-once", "--config", str(config), env=env)

    assert checked.code == 0 and f"jsonl {lines}" in checked.out
    assert run.code == 0 and again.code == 0, run.err
    (line,) = lines.read_text().splitlines()
    assert json.loads(line)["key"] == "docked:630"


async def test_without_the_plugin_its_table_is_an_unknown_key(tmp_path: Path) -> None:
    config = tmp_path / "dockwatch.toml"
    config.write_text('[jsonl]\npath = "x.jsonl"\n')

    run = await dockwatch("check-config", "--config", str(config))

    assert run.code == 2
    assert run.err.strip() == f"dockwatch: config error: {config}: unknown key jsonl"


async def test_the_plugin_writes_a_correction_with_what_it_corrects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("dockwatch_jsonl", PLUGIN / "dockwatch_jsonl.py")
    assert spec is not None and spec.loader is not None
    plugin = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "dockwatch_jsonl", plugin)  # pydantic resolves its annotations there
    spec.loader.exec_module(plugin)
    lines = tmp_path / "notifications.jsonl"
    announced = messages_of_every_kind()[ChangeKind.DOCKED]
    later = announced.occurred_at + timedelta(hours=3)
    notifier = plugin.JsonLinesNotifier(plugin.JsonLinesConfig(path=lines))

    await notifier.send(
        notifier.targets()[0].key, correction_of(announced, Revision.RESCHEDULED, later), delivery_id=2
    )

    line = json.loads(lines.read_text())
    assert (line["key"], line["kind"]) == (f"correction:1:{announced.key}", "docking.docked")
    assert line["correction"] == {
        "reason": "rescheduled",
        "corrects": announced.key,
        "expected": later.isoformat().replace("+00:00", "Z"),
    }
