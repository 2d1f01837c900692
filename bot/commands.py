"""What each CLI command does, apart from argument parsing and exit codes."""

from __future__ import annotations

import asyncio
import difflib
import logging
import os
import secrets
import signal
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from zoneinfo import ZoneInfo

from dockwatch import __version__
from dockwatch.bot.config import Config
from dockwatch.bot.durations import format_duration, humanize
from dockwatch.bot.errors import (
    ConfigError,
    PermanentFailure,
    PlatformUnavailable,
    ResourceUnavailable,
    RetryLater,
    StorageError,
    TargetGone,
)
from dockwatch.bot.preferences import QuietHours, describe_leads, parse_zone
from dockwatch.notifiers import MovablePlatform, PlatformContext, Target, platforms
from dockwatch.notifiers.base import Presentation, redact_urls
from dockwatch.storage.urls import existing_sqlite_file, shown_url, sqlite_path

# Each command imports what only it needs inside its function: cron starts a fresh process for every
# command, and `check-config` on a new database must not pay for the store (SQLModel, alembic), the
# LL2 client or the poll pipeline it never runs.
if TYPE_CHECKING:
    from dockwatch.bot.pipeline import CycleOutcome
    from dockwatch.storage import TargetMove
    from dockwatch.storage.tables import TargetRow

log = logging.getLogger(__name__)


async def run_service(config: Config) -> int:
    """``dockwatch run``: poll, deliver and serve until SIGTERM or SIGINT, then stop gracefully."""
    from aiohttp import web

    from dockwatch.bot.database_watch import watch_database_file
    from dockwatch.bot.metrics import Metrics
    from dockwatch.bot.runtime import open_runtime
    from dockwatch.bot.service import Service
    from dockwatch.bot.web import create_web_app

    async with open_runtime(config) as app:
        service = Service(app, config, Metrics(app.instance))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _stop_or_force, stop)
        runner: web.AppRunner | None = None
        address = config.web.address
        if address is not None:
            runner = web.AppRunner(create_web_app(service, app, config), access_log=None)
            await runner.setup()
            try:
                await web.TCPSite(runner, address[0], address[1]).start()
            except OSError as error:
                await runner.cleanup()
                raise ResourceUnavailable(
                    f"web.listen: cannot listen on {config.web.listen}: {error.strerror}"
                ) from None
            log.info("web listening url=http://%s/", config.web.listen)
        await app.platforms.start_front_ends(app.context)
        await app.store.record_platform_states(app.platforms.states(), app.clock())  # front-ends too

        async def record(states: dict[str, str | None]) -> None:
            await app.store.record_platform_states(states, app.clock())

        retrying = asyncio.create_task(
            app.platforms.keep_starting(app.context, stop, on_change=record), name="platforms"
        )
        database = sqlite_path(config.storage.url)
        watching = (
            asyncio.create_task(watch_database_file(database, stop), name="database-watch")
            if database
            else None
        )
        try:
            await service.run(stop, stop_bound=config.run.stop_timeout)
        finally:
            stop.set()
            await retrying
            lost = await watching if watching is not None else None
            if runner is not None:
                await runner.cleanup()
    if lost is not None:
        raise lost
    log.info("service stopped")
    return 0


def _stop_or_force(stop: asyncio.Event) -> None:
    """The first signal stops gracefully; a second one, while stopping, exits at once."""
    if stop.is_set():
        log.warning("second signal: exiting now; unfinished deliveries stay claimed until their lease ends")
        os._exit(130)
    stop.set()


async def poll_once(config: Config) -> CycleOutcome:
    from dockwatch.bot.pipeline import run_cycle
    from dockwatch.bot.runtime import open_runtime

    async with open_runtime(config) as app:
        return await run_cycle(
            app, stale_after=config.detect.stale_after, webcast_window=config.detect.webcast_window
        )


def describe_outcome(outcome: CycleOutcome) -> str:
    recorded, delivery = outcome.recorded, outcome.delivery
    assert recorded is not None
    parts = [
        f"poll ok: {recorded.announced} new notification{'s' if recorded.announced != 1 else ''}",
        f"{recorded.recorded - recorded.announced} recorded silently",
        f"{delivery.delivered} delivered",
    ]
    if delivery.retrying:
        parts.append(f"{delivery.retrying} queued for retry")
    if delivery.dead:
        parts.append(f"{delivery.dead} dead-lettered")
    return ", ".join(parts)


async def database_summary(config: Config) -> tuple[str, list[str]]:
    """Where the configured database stands, read-only, and the lines of ``config_moves``: a database
    that is not dockwatch's (or is newer than this code) can never work, so ``check-config`` refuses
    it like ``status`` does."""
    if _missing_sqlite_file(config):
        return "new (created by the first poll-once or run)", []
    from dockwatch.storage.revisions import head as schema_head

    path = sqlite_path(config.storage.url)
    if path is not None:  # the standard library's sqlite3: the store's libraries cost more than all else
        from dockwatch.storage.peek import peek_sqlite

        peeked = peek_sqlite(path, shown_url(config.storage.url))
        state, moves = peeked.state, peeked.moves
    else:
        from dockwatch.storage import Store

        async with Store.open_read_only(config.storage.url, require_head=False) as store:
            state = store.schema
            # An older schema has no moves table yet; its upgrade reads the moves back from the receipts.
            moves = await store.target_moves() if state.at_head else []
    if state.at_head:
        return f"at revision {state.describe()} (current)", config_moves(config, moves)
    return f"at revision {state.describe()}; upgraded to {schema_head()} at the next start", []


def config_moves(config: Config, moves: Iterable[TargetMove]) -> list[str]:
    """One line per target the config names at an address it moved away from, saying what to write
    instead: dockwatch already sends to the new address, but the file should name it too."""
    by_old = {move.old_key: move for move in moves}
    lines: list[str] = []
    seen: set[str] = set()
    for platform, settings in config.configured_platforms():
        for target in platform.targets(settings):
            move = by_old.get(target.key)
            if move is None or target.key in seen:
                continue
            seen.add(target.key)
            if isinstance(platform, MovablePlatform):
                lines.append(platform.describe_move(settings, move.old_key, move.new_key, move.moved_at))
            else:
                lines.append(
                    f"[{platform.table}] target {move.old_key} moved to {move.new_key} "
                    f"on {move.moved_at:%Y-%m-%d}; update the config"
                )
    return lines


def _missing_sqlite_file(config: Config) -> bool:
    """A SQLite file that does not exist yet (a mistyped path must not create an empty one)."""
    return sqlite_path(config.storage.url) is not None and not existing_sqlite_file(config.storage.url)


def config_summary(
    config: Config, path: Path, *, database: str | None = None, moves: Sequence[str] = ()
) -> str:
    api_key = config.api.api_key.get_secret_value()
    targets = _target_lines(config)
    lines = [
        f"config OK: {path}",
        f"  api.base_url           {config.api.base_url}",
        f"  api.api_key            {'set (hidden)' if api_key else 'not set (free tier)'}",
        f"  api.requests_per_hour  {config.api.requests_per_hour}",
        f"  storage.url            {shown_url(config.storage.url)}",
        *([f"  database               {database}"] if database is not None else []),
        f"  detect.stale_after     {format_duration(config.detect.stale_after)}",
        f"  detect.webcast_window  {format_duration(config.detect.webcast_window)}",
        f"  poll.interval          {format_duration(config.poll.interval)} "
        f"(min {format_duration(config.poll.min_interval)})",
        f"  web.listen             {config.web.listen or 'disabled'}",
        f"  targets                {_target_count(config)}",
        *targets,
        *_preference_lines(config),
        *_moves_block(moves),
    ]
    return "\n".join(lines)


def _moves_block(moves: Sequence[str]) -> list[str]:
    return [MOVES_HEADER, *(f"  {line}" for line in moves)] if moves else []


MOVES_HEADER = "Update the config file (dockwatch already sends to the new address):"


def _target_count(config: Config) -> int:
    return sum(len(platform.targets(settings)) for platform, settings in config.configured_platforms())


def _target_lines(config: Config) -> list[str]:
    """Every configured target, as each platform shows it: secrets left out."""
    return [
        f"    {line}"
        for platform, settings in config.configured_platforms()
        for line in platform.describe(settings)
    ]


def _preference_lines(config: Config) -> list[str]:
    """One line per target the config sets reminders, quiet hours or a zone for: the environment
    form (``DOCKWATCH_TELEGRAM__REMINDERS=1h,10m``) is easy to get subtly wrong, so show the result."""
    lines = []
    for platform, settings in config.configured_platforms():
        for target in platform.targets(settings):
            chosen = target.preferences
            if choices := describe_choices(chosen.reminders, chosen.quiet, chosen.timezone):
                lines.append(f"    {target.key}  {choices}")
    if not lines:
        return []
    return [f"  preferences            {len(lines)} target{'s' if len(lines) != 1 else ''}", *lines]


def describe_choices(
    reminders: Sequence[timedelta] | None, quiet: QuietHours | None, timezone: str | None
) -> str:
    """'reminders 1h and 10m before, quiet 22:00-07:00, time zone Europe/Berlin'; a choice not made
    is left out (``reminders=()`` is a choice: off)."""
    parts = []
    if reminders is not None:
        parts.append(f"reminders {describe_leads(reminders)}")
    if quiet is not None:
        parts.append(f"quiet {quiet}")
    if timezone is not None:
        parts.append(f"time zone {timezone}")
    return ", ".join(parts)


def _existing_database(config: Config) -> str:
    """``status`` and friends read a database; a mistyped path must not create an empty one."""
    if _missing_sqlite_file(config):
        path = sqlite_path(config.storage.url)
        raise StorageError(f"no database at {path} (has poll-once or run used this config yet?)")
    return config.storage.url


async def enable_target(config: Config, target_key: str) -> str:
    from dockwatch.storage import Store

    async with Store.open(_existing_database(config)) as store:
        if not await store.enable_target(target_key):
            raise ConfigError(f"enable-target: no target {target_key!r} (see `dockwatch status` for keys)")
    return f"{target_key} enabled; new notifications will be delivered to it"


class UnknownTarget(ConfigError):
    """A key ``test-target`` finds neither in the config nor in the database: a typo, most likely."""


@dataclass(frozen=True, slots=True)
class TrialResult:
    """What ``test-target`` got back: ``sent`` when the platform accepted the test message, and the
    lines to print (on stdout when sent, else one line for stderr)."""

    sent: bool
    lines: tuple[str, ...]


TRIAL_TIMEOUT = timedelta(seconds=60)
"""A platform that never answers must not hold a person at the terminal forever."""


async def test_target(
    config: Config, key: str, *, clock: Callable[[], datetime] | None = None
) -> TrialResult:
    """``dockwatch test-target``: one marked test message to one target, sent directly.

    Nothing is recorded (no notification, no delivery, no disabled target): the database is only
    read, for the chats that subscribed themselves and for the addresses targets moved to.
    """
    import aiohttp

    from dockwatch.bot.model import trial_message
    from dockwatch.bot.platforms import START_TIMEOUT, PlatformHost
    from dockwatch.bot.runtime import utc_now

    clock = clock or utc_now
    configured = {
        target.key: target
        for platform, settings in config.configured_platforms()
        for target in platform.targets(settings)
    }
    stored, moves = await _stored_targets(config)
    if key not in configured and key not in stored and key not in moves:
        raise UnknownTarget(_unknown_target(key, configured, stored))
    lines: list[str] = []
    move = moves.get(key)
    address = move.new_key if move is not None else key
    if move is not None:
        lines.append(f"{key} moved to {address} on {move.moved_at:%Y-%m-%d}; testing {address}")
    listed = configured.get(address) or configured.get(key)
    row = stored.get(address)
    label = listed.label if listed is not None else row.label if row is not None else address
    named = f"{label} ({address})"
    async with aiohttp.ClientSession(headers={"user-agent": f"dockwatch/{__version__}"}) as session:
        host = PlatformHost.build(config, PlatformContext(session, clock))
        try:
            unit = next(
                (
                    u
                    for u in host.units
                    if u.name == address.partition(":")[0] and u.notifier.handles(address)
                ),
                None,
            )
            if unit is None:
                raise ConfigError(f"{named}: {_unreachable(address)}")
            try:
                await asyncio.wait_for(unit.notifier.start(), timeout=START_TIMEOUT.total_seconds())
            except PlatformUnavailable as error:
                if error.scope is None or address.startswith(f"{unit.name}:{error.scope}:"):
                    raise ResourceUnavailable(f"cannot test {named}: {redact_urls(str(error))}") from None
            except TimeoutError:
                raise ResourceUnavailable(
                    f"cannot test {named}: {unit.name} did not answer within "
                    f"{START_TIMEOUT.total_seconds():g} s at start"
                ) from None
            zone = _trial_zone(listed, row)
            shown = {} if zone is None else {"presentation": Presentation(zone=zone)}
            try:
                receipt = await asyncio.wait_for(
                    unit.notifier.send(
                        address,
                        trial_message(clock()),
                        # Random and far above any stored delivery id: Discord drops a nonce it saw
                        # minutes ago, and a real delivery must never look like this test to it.
                        delivery_id=2**53 + secrets.randbelow(2**53),
                        **shown,
                    ),
                    timeout=TRIAL_TIMEOUT.total_seconds(),
                )
            except Exception as error:  # the platform's answer, whatever it is, is the result
                log.debug("test message failed target=%s", address, exc_info=True)
                return TrialResult(False, (f"test message to {named} not delivered: {_answer(error)}",))
        finally:
            await host.close()
    lines.append(f"sent to {named}: {receipt.describe()}")
    if row is not None and not row.enabled:
        lines.append(
            f"{address} is disabled ({row.disabled_reason}); `dockwatch enable-target` delivers to it again"
        )
    return TrialResult(True, tuple(lines))


async def _stored_targets(config: Config) -> tuple[dict[str, TargetRow], dict[str, TargetMove]]:
    """The database's targets and moves, read-only; none when there is no database (yet) or it is
    not at this version's schema (the config's own targets can still be tested)."""
    if _missing_sqlite_file(config):
        return {}, {}
    from dockwatch.storage import Store

    async with Store.open_read_only(config.storage.url, require_head=False) as store:
        if not store.schema.at_head:
            return {}, {}
        rows = {row.key: row for row in await store.targets()}
        moves = {move.old_key: move for move in await store.target_moves()}
    return rows, moves


def _unknown_target(key: str, configured: dict[str, Target], stored: dict[str, TargetRow]) -> str:
    """The refusal, with the key most likely meant: the same address under its platform's prefix,
    a near-identical key, or the key of a target whose label was given instead."""
    shown = key if key.isprintable() and " " not in key else repr(key)
    labels = {t.label: k for k, t in configured.items()} | {row.label: k for k, row in stored.items()}
    keys = sorted(configured.keys() | stored.keys())
    guess = next((k for k in keys if k.partition(":")[2] == key), None)
    if guess is None:
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.8)
        guess = close[0] if close else None
    if guess is None:
        by_label = {label.lower(): k for label, k in labels.items()}
        close = difflib.get_close_matches(key.lower(), list(by_label), n=1, cutoff=0.8)
        guess = by_label[close[0]] if close else None
    hint = f" (did you mean {guess}?)" if guess is not None else ""
    return f"unknown target {shown}; `dockwatch status` lists the targets{hint}"


def _unreachable(address: str) -> str:
    """Why a target the database knows has no sender in this config: its platform's table is gone,
    or no longer lists it (a removed webhook, a Discord bot token taken out)."""
    name = address.partition(":")[0]
    table = next((p.table for p in platforms().values() if p.name == name), None)
    if table is None:
        return f"no installed platform is named {name!r}"
    return f"the config's [{table}] cannot send to it (no longer listed, or the table is gone)"


def _trial_zone(listed: Target | None, row: TargetRow | None) -> ZoneInfo | None:
    """The target's zone as a delivery would show it: the stored choice, else the config's."""
    from dockwatch.storage.rows import target_preferences

    name = target_preferences(row).timezone if row is not None else None
    if name is None and listed is not None:
        name = listed.preferences.timezone
    if name is None:
        return None
    try:
        return parse_zone(name)
    except ValueError:
        return None


def _answer(error: BaseException) -> str:
    """The platform's answer in one line, and what a real delivery would do about it."""
    text = redact_urls(str(error)).replace("\n", " ").strip()
    if isinstance(error, TargetGone):
        return f"{text} (the target is gone: a notification would disable it)"
    if isinstance(error, PermanentFailure):
        return f"{text} (refused for good: retrying would not help)"
    if isinstance(error, RetryLater):
        return f"{text} (temporary: a notification would be retried)"
    if isinstance(error, TimeoutError):
        return f"no answer within {TRIAL_TIMEOUT.total_seconds():g} s"
    return f"{type(error).__name__}: {text}"


async def db_upgrade(config: Config) -> str:
    """``dockwatch db upgrade``: what ``run`` and ``poll-once`` do at start, on its own."""
    from dockwatch.storage import Store

    async with Store.open(config.storage.url) as store:
        before, after = store.upgraded_from, store.schema
    if before is None:
        return f"database at revision {after.describe()}"
    return f"upgraded from {before.describe()} to {after.describe()}"


async def db_current(config: Config) -> str:
    """``dockwatch db current``: the schema revision, read-only."""
    from dockwatch.storage import Store
    from dockwatch.storage.schema import head as schema_head

    async with Store.open_read_only(_existing_database(config), require_head=False) as store:
        state = store.schema
    if state.at_head:
        return f"database at revision {state.describe()} (head)"
    return f"database at revision {state.describe()}; head is {schema_head()}: run `dockwatch db upgrade`"


async def status(config: Config, now: datetime | None = None) -> str:
    from dockwatch.bot.leadership import POLLER_LEASE
    from dockwatch.bot.ll2.budget import WINDOW
    from dockwatch.bot.runtime import utc_now
    from dockwatch.storage import Store
    from dockwatch.storage.rows import target_preferences

    now = now or utc_now()
    async with Store.open_read_only(_existing_database(config)) as store:
        docked = await store.docked_at(now)
        last = await store.last_poll()
        last_ok = await store.last_successful_poll()
        counts = await store.delivery_counts()
        targets = await store.targets()
        dead = await store.dead_deliveries()
        retrying = await store.retrying_deliveries()
        recent = await store.recent_deliveries()
        platform_states = {row.name: row for row in await store.platform_states()}
        moves = config_moves(config, await store.target_moves())
        calls = await store.api_calls_since(now - WINDOW)
        hold = await store.api_hold()
        poller = await store.lease(POLLER_LEASE)

    lines = ["Docked now (as LL2 last reported):"]
    by_place: dict[str, list[str]] = defaultdict(list)
    for record in docked:
        days = humanize(now - record.docking) if record.docking else "?"
        by_place[record.where].append(f"    {record.port.name:<24} {record.vehicle_name:<40} {days}")
    if not by_place:
        lines.append("  nothing known yet (run poll-once)")
    for place, rows in sorted(by_place.items()):
        lines.append(f"  {place}")
        lines.extend(rows)

    lines.append("")
    if last is None:
        lines.append("Last poll: never")
    else:
        detail = f" ({last.detail})" if last.detail else ""
        lines.append(f"Last poll: {_ago(last.finished_at, now)}: {last.result}{detail}")
        if last_ok is not None and last_ok.id != last.id:
            lines.append(f"Last successful poll: {_ago(last_ok.finished_at, now)}")
    lines.append(f"LL2 calls in the last hour: {len(calls)} of {config.api.requests_per_hour}")
    if hold is not None and hold.until > now:
        lines.append(f"LL2 asked us to wait: no calls until {_ago(hold.until, now)} ({hold.reason})")
    if poller is not None and poller.expires_at >= now:
        lines.append(f"Poller: {poller.holder} (dockwatch run; lease until {poller.expires_at:%H:%M:%S} UTC)")
    elif poller is not None:  # the next instance to ask takes over
        lines.append(f"Poller: none; the lease of {poller.holder} ended {_ago(poller.expires_at, now)}")
    summary = ", ".join(
        f"{name} {counts.get(name, 0)}" for name in ("queued", "sending", "delivered", "dead")
    )
    if counts.get("superseded"):  # retracted by a correction before they were sent: not failures
        summary += f", superseded {counts['superseded']}"
    lines.append(f"Deliveries: {summary}")
    if targets:
        lines.append("Targets:")
        for target in targets:
            state = "enabled" if target.enabled else f"DISABLED ({target.disabled_reason})"
            if not target.configured:
                state += ", no longer in config"
            chosen = target_preferences(target)
            if choices := describe_choices(chosen.reminders or None, chosen.quiet, chosen.timezone):
                state += f"  {choices}"
            lines.append(f"  {target.key}  {target.label}  {state}")
    lines.extend(_moves_block(moves))
    configured = [platform.name for platform, _ in config.configured_platforms()]
    if configured:
        lines.append("Platforms:")
        for name in configured:
            row = platform_states.get(name)
            if row is None:
                lines.append(f"  {name}  not started yet")
            elif row.error is None:
                lines.append(f"  {name}  ok (checked {_ago(row.checked_at, now)})")
            else:
                lines.append(f"  {name}  UNAVAILABLE since {_ago(row.since, now)}: {row.error}")
    if recent:
        lines.append("Recent deliveries:")
        for delivery, key in recent:
            receipt = delivery.receipt.describe() if delivery.receipt else "no receipt"
            lines.append(f"  {key} -> {delivery.target_key}: {receipt}")
    if retrying:
        lines.append("Retrying:")
        for delivery, key in retrying:
            failed = f"attempt {delivery.attempts} failed ({delivery.last_error})"
            lines.append(
                f"  {key} -> {delivery.target_key}: {failed}; next try {_ago(delivery.next_attempt_at, now)}"
            )
    if dead:
        lines.append("Dead letters (newest first):")
        for delivery, key in dead:
            attempts = f"{delivery.attempts} attempt{'s' if delivery.attempts != 1 else ''}"
            lines.append(f"  {key} -> {delivery.target_key} after {attempts}: {delivery.last_error}")
    return "\n".join(lines)


def _ago(moment: datetime, now: datetime) -> str:
    relative = f"{humanize(now - moment)} ago" if moment <= now else f"in {humanize(moment - now)}"
    return f"{moment:%Y-%m-%d %H:%M UTC} ({relative})"


async def demo(stream: TextIO) -> int:
    from dockwatch.bot.demo import run_demo

    await run_demo(stream)
    return 0


def init_config(path: Path) -> str:
    """Write the packaged example config; an existing file is never overwritten."""
    from importlib import resources

    example = resources.files("dockwatch.bot").joinpath("config.example.toml").read_text(encoding="utf-8")
    try:
        with path.open("x", encoding="utf-8") as file:
            file.write(example)
    except FileExistsError:
        raise ConfigError(f"{path}: already exists; not overwriting it") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot write: {error.strerror}") from None
    return f"wrote {path}: add a platform table, then run `dockwatch check-config --config {path}`"
