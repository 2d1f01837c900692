"""The installed shape: one import package, a free distribution name, light commands, init-config."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import distribution
from pathlib import Path

import pytest

import dockwatch
from tests.test_cli import dockwatch as run_dockwatch

ROOT = Path(__file__).parents[1]
SDKS = ("discord", "telegram", "nio")


def test_the_distribution_is_dockwatch_ll2_and_its_version_matches_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    assert project["name"] == dockwatch.DISTRIBUTION == "dockwatch-ll2"
    assert project["version"] == dockwatch.__version__
    assert distribution("dockwatch-ll2").version == dockwatch.__version__


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel a user would install, built from this checkout."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("dockwatch_ll2-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_adds_one_top_level_import_name(wheel: zipfile.ZipFile) -> None:
    top_level = {name.split("/")[0] for name in wheel.namelist()}

    assert top_level == {"dockwatch", f"dockwatch_ll2-{dockwatch.__version__}.dist-info"}


def test_the_wheel_ships_the_example_config_and_the_built_in_platforms(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    entry_points = wheel.read(f"dockwatch_ll2-{dockwatch.__version__}.dist-info/entry_points.txt").decode()

    assert wheel.read("dockwatch/bot/config.example.toml") == (ROOT / "config.example.toml").read_bytes()
    assert {"dockwatch/__main__.py", "dockwatch/py.typed", "dockwatch/bot/static/status.css"} <= names
    assert "[dockwatch.platforms]" in entry_points
    for platform in ("console", "discord", "matrix", "ntfy", "telegram", "webhooks"):
        assert f"{platform} = dockwatch.notifiers." in entry_points


async def test_version_names_the_distribution() -> None:
    run = await run_dockwatch("--version")

    assert run.out.strip() == f"dockwatch-ll2 {dockwatch.__version__}"


@pytest.mark.parametrize(
    "args",
    [["--version"], ["check-config", "--config", "{config}"], ["status", "--config", "{config}"]],
    ids=["version", "check-config", "status"],
)
def test_light_commands_import_no_platform_sdk(tmp_path: Path, args: list[str]) -> None:
    config = tmp_path / "dockwatch.toml"
    config.write_text(
        '[storage]\nurl = "sqlite:///missing.db"\n'
        '[[webhooks]]\nurl = "https://hooks.example.org/x"\n'
        'secret = "whsec_ZG9ja3dhdGNoLXRlc3Qtc2VjcmV0LTMyLWJ5dGVzISE="\n'
        '[telegram]\ntoken = "1:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"\nchat_ids = [1]\n'
        '[discord]\ntoken = "x"\nchannel_ids = [223456789012345678]\n'
        '[matrix]\nhomeserver = "https://matrix.example.org"\naccess_token = "x"\n'
        'room_ids = ["!r:example.org"]\n'
    )
    if "status" in args:  # a real database, so status goes all the way through
        subprocess.run(
            [sys.executable, "-m", "dockwatch", "db", "upgrade", "--config", str(config)],
            check=True,
            timeout=60,
        )
    argv = [a.format(config=config) for a in args]
    probe = (
        "import sys\nfrom dockwatch.bot.cli import main\n"
        f"try:\n    code = main({argv!r})\nexcept SystemExit as done:\n    code = done.code\n"
        f"print(code, sorted(m for m in {SDKS!r} if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)

    assert result.stderr.strip().splitlines()[-1] == "0 []", result.stderr


async def test_init_config_writes_the_example_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "dockwatch.toml"

    first = await run_dockwatch("init-config", str(target))
    second = await run_dockwatch("init-config", str(target))

    assert first.code == 0 and "wrote" in first.out
    assert target.read_text() == (ROOT / "config.example.toml").read_text()
    assert second.code == 2
    assert second.err.strip() == f"dockwatch: config error: {target}: already exists; not overwriting it"
