"""CPU of one ``plan_next_poll`` on a crowded hour, per budget: the planner runs on the event loop.

Run by hand:  python bench/planning.py [--budgets 14 300 3600 100000] [--rounds 20]

The worst case the planner meets: a webcast window open for the whole hour, the events read at the
window's pace, and the dockings due a moment before the next window read. That steady dockings read
must leave room for every window read of the coming hour, so the plan projects them all (one a
``min_interval`` at a budget that allows it: 3,600 at 1 s) and checks each against the calls of the
last hour (as many again). The calls are those the planner's own paces would have made, at most
``per_hour - 2``: at the lower budgets the hour is then nearly full, the check stops at the second
read and the plan reads the events instead; only the 100,000 row scans the whole hour.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from dockwatch.bot.planner import BudgetView, PlanState, Watch, paces, plan_next_poll

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
MIN_INTERVAL = timedelta(seconds=1)


def crowded(per_hour: int) -> tuple[PlanState, BudgetView]:
    """The window hour at ``per_hour``: events just read, dockings due half a pace before them."""
    pace = paces(per_hour, timedelta(minutes=10), MIN_INTERVAL)
    state = PlanState(
        interval=timedelta(minutes=10),
        min_interval=MIN_INTERVAL,
        dockings=Watch(NOW - pace.dockings_in_window + pace.events_in_window / 2),
        events=Watch(NOW),
        windows=((NOW - timedelta(hours=1), NOW + timedelta(hours=2)),),
    )
    hour = timedelta(hours=1)
    reads = int(hour / pace.events_in_window) + int(hour / pace.dockings_in_window)
    spacing = hour / max(1, reads)
    calls = tuple(NOW - spacing * i for i in range(min(reads, per_hour - 2)))
    return state, BudgetView(per_hour, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[14, 300, 3600, 100_000])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print(f"{'calls/hour':>10} {'calls made':>10} {'plan CPU ms':>12}  planned")
    for per_hour in args.budgets:
        state, budget = crowded(per_hour)
        cpus = []
        for _ in range(args.rounds):
            started = time.process_time()
            planned = plan_next_poll(state, budget, NOW)
            cpus.append((time.process_time() - started) * 1000)
        endpoints = "+".join(sorted(e.value for e in planned.endpoints))
        offset = (planned.at - NOW).total_seconds()
        cpu = statistics.median(cpus)
        print(f"{per_hour:>10} {len(budget.calls):>10} {cpu:>12.2f}  {endpoints} at +{offset:g} s")


if __name__ == "__main__":
    main()
