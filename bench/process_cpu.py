"""CPU of whole ``dockwatch`` processes: ``--version`` and a steady ``poll-once``, as cron pays it.

Run by hand:  python bench/process_cpu.py [--dockwatch PATH] [--rounds 10]

``--dockwatch`` is the console script to measure (default: this checkout's ``.venv``), so an older
release installed in another venv can be measured against the same fake LL2 in the same run. The
fake LL2 (the 100-record page of ``bench/cycle.py``) runs in another process; each measured process
is charged its user + system CPU from ``getrusage(RUSAGE_CHILDREN)``. The first ``poll-once``
records the baseline and is not counted: every counted one is a steady poll (nothing changed).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cycle import DATA, hundred_records, page, serve  # noqa: E402

SECRET = "whsec_ZG9ja3dhdGNoLXRlc3Qtc2VjcmV0LTMyLWJ5dGVzISE="


def child_cpu(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockwatch", default=str(ROOT / ".venv" / "bin" / "dockwatch"))
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

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
            poll = [args.dockwatch, "-q", "poll-once", "--config", str(config)]
            child_cpu(poll)  # the baseline
            results = {
                "--version": [child_cpu([args.dockwatch, "--version"]) for _ in range(args.rounds)],
                "steady poll-once": [child_cpu(poll) for _ in range(args.rounds)],
            }
    finally:
        server.terminate()
    version = subprocess.run([args.dockwatch, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{version} ({args.dockwatch}), {args.rounds} rounds, CPU seconds (user + system)")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:<18} median {median:.3f}  min {min(values):.3f}  max {max(values):.3f}")


if __name__ == "__main__":
    main()
