"""Start-up cost of whole ``dockwatch`` processes: CPU and peak RSS, beside ``import aiohttp`` as the floor.

Run by hand:  python bench/startup.py [--dockwatch PATH] [--rounds 5] [--ladder]

Cron starts a fresh interpreter for every command, so what a command imports is paid on every run,
however little the command then does. Each command runs ``--rounds`` times; each run is charged its
own user + system CPU and peak RSS, read from ``os.wait4`` for that one child (so one run's peak is
never mixed with another's). The floor is the same interpreter running ``python -c "import aiohttp"``:
every command that talks HTTP pays at least that. The fake LL2 (the 100-record page of
``bench/cycle.py``) runs in another process; the first ``poll-once`` records the baseline and is not
counted, so every counted one is a steady poll (nothing changed) and ``check-config`` reads an
existing database, as it would on a running installation (and, once more, a database not created yet,
as on the first day). The config has one webhook target only.

Every module is read from bytecode, as from an installed wheel (pip compiles it at install): the
runs write and read theirs under a temporary ``PYTHONPYCACHEPREFIX``, and each command runs once
uncounted first to fill it. ``--no-bytecode`` measures instead as the bench did before 2026-11-23:
``PYTHONDONTWRITEBYTECODE=1``, so an editable install (``scripts/test``'s ``.venv``, which has no
bytecode for dockwatch's own modules) compiles dockwatch's sources in every run (about 0.1 s of CPU).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cycle import DATA, hundred_records, page, serve  # noqa: E402
from bench.process_cpu import SECRET  # noqa: E402

# The run is started from a small interpreter, not from this one: Linux carries a process's peak RSS
# across fork and exec, so a child forked from this process (aiohttp, the Manager) would report at
# least this process's size.
_LAUNCHER = """
import os, subprocess, sys
with open(os.devnull, "wb") as null:
    process = subprocess.Popen(sys.argv[1:], stdout=null, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
print(os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
sys.stderr.write(errors)
"""


POLL_LIBRARIES = (
    "import aiohttp, pydantic, sqlmodel, sqlalchemy.ext.asyncio, sqlalchemy.dialects.sqlite, aiosqlite"
)
"""What any ``poll-once`` on SQLite imports before a line of dockwatch runs: no poll can cost less."""

LADDER = {
    "python -c pass": "pass",
    "import aiohttp, pydantic": "import aiohttp, pydantic",
    "... and sqlalchemy": "import aiohttp, pydantic, sqlalchemy",
    "... and sqlalchemy.orm": "import aiohttp, pydantic, sqlalchemy.orm",
}
"""``--ladder``: the libraries a poll imports, one step at a time, to show where the floor comes from."""


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(user + system CPU seconds, peak RSS MiB) of one run of ``argv``, which must succeed."""
    launched = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _LAUNCHER, *argv], capture_output=True, text=True, env=env
    )
    code, cpu, peak = launched.stdout.split()
    if launched.returncode != 0 or code != "0":
        raise SystemExit(f"{argv} exited {code}: {launched.stderr}")
    return float(cpu), int(peak) / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockwatch", default=str(ROOT / ".venv" / "bin" / "dockwatch"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--no-bytecode", action="store_true", help="compile every module from source in every run"
    )
    parser.add_argument(
        "--ladder", action="store_true", help="also time the poll's libraries one step at a time"
    )
    args = parser.parse_args()
    python = str(Path(args.dockwatch).parent / "python")

    event = json.loads((DATA / "ll2_2.3.0_event_1096.json").read_text())
    manager = multiprocessing.Manager()
    pages = manager.dict(
        {"/2.3.0/docking_events/": page(hundred_records()), "/2.3.0/events/upcoming/": page([event])}
    )
    ports = manager.Queue()
    server = multiprocessing.Process(target=serve, args=(ports, pages), daemon=True)
    server.start()
    port = ports.get(timeout=10)
    try:
        with tempfile.TemporaryDirectory() as directory:
            config = Path(directory) / "dockwatch.toml"
            config.write_text(
                f'[api]\nbase_url = "http://127.0.0.1:{port}/2.3.0"\nrequests_per_hour = 100000\n'
                f'[storage]\nurl = "sqlite:///{directory}/bench.db"\n'
                f'[[webhooks]]\nurl = "http://127.0.0.1:9/unused"\nsecret = "{SECRET}"\n'
            )
            fresh = Path(directory) / "fresh.toml"  # no poll ran yet: no database file
            fresh.write_text(config.read_text().replace("bench.db", "never-created.db"))
            commands = {
                'python -c "import aiohttp" (floor)': [python, "-c", "import aiohttp"],
                "dockwatch --version": [args.dockwatch, "--version"],
                "dockwatch check-config (new database)": [
                    args.dockwatch,
                    "check-config",
                    "--config",
                    str(fresh),
                ],
                "dockwatch check-config": [args.dockwatch, "check-config", "--config", str(config)],
                "steady dockwatch -q poll-once": [args.dockwatch, "-q", "poll-once", "--config", str(config)],
                "libraries a SQLite poll imports": [python, "-c", POLL_LIBRARIES],
            }
            if args.ladder:
                commands.update({name: [python, "-c", code] for name, code in LADDER.items()})
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
            if not args.no_bytecode:
                env.pop("PYTHONDONTWRITEBYTECODE")
                env["PYTHONPYCACHEPREFIX"] = str(Path(directory) / "bytecode")
            measure(commands["steady dockwatch -q poll-once"], env)  # the baseline
            if not args.no_bytecode:
                for argv in commands.values():  # fills the bytecode cache
                    measure(argv, env)
            results = {
                name: [measure(argv, env) for _ in range(args.rounds)] for name, argv in commands.items()
            }
    finally:
        server.terminate()
        manager.shutdown()
    version = subprocess.run([args.dockwatch, "--version"], capture_output=True, text=True).stdout.strip()
    floor = statistics.median(cpu for cpu, _ in next(iter(results.values())))
    source = "compiled from source in every run" if args.no_bytecode else "read from bytecode"
    print(f"{version} ({args.dockwatch}), median of {args.rounds} runs, modules {source}")
    print(f"{'command':<42} {'CPU s':>7} {'min-max':>13} {'x floor':>8} {'peak RSS MiB':>13}")
    for name, runs in results.items():
        cpus = [cpu for cpu, _ in runs]
        median = statistics.median(cpus)
        rss = statistics.median(peak for _, peak in runs)
        spread = f"{min(cpus):.3f}-{max(cpus):.3f}"
        print(f"{name:<42} {median:>7.3f} {spread:>13} {median / floor:>8.2f} {rss:>13.1f}")


if __name__ == "__main__":
    main()
