"""The ``dockwatch`` console script.

Exit codes (a public contract): 0 success; 1 LL2 failed or the budget refused the cycle (state
untouched), or the platform did not accept test-target's message; 2 configuration error (also an
unknown target key); 3 storage error; 69 a resource is unavailable (web.listen's port is in use: a
supervisor should retry; test-target's platform cannot start); 70 an internal error (a bug: please
report it).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from dockwatch import DISTRIBUTION, __version__
from dockwatch.bot.errors import (
    ConfigError,
    DockwatchError,
    ResourceUnavailable,
    StorageError,
    UpstreamError,
)

if TYPE_CHECKING:
    from dockwatch.bot.config import Config

EXIT_OK = 0
EXIT_UPSTREAM = 1
EXIT_NOT_DELIVERED = 1
EXIT_CONFIG = 2
EXIT_STORAGE = 3
EXIT_UNAVAILABLE = 69
EXIT_INTERNAL = 70


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"dockwatch: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dockwatch",
        description="Announce space station dockings, departures and webcast starts from LL2.",
    )
    parser.add_argument("--version", action="version", version=f"{DISTRIBUTION} {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def with_config(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--config", required=True, type=Path, metavar="FILE")
        return command

    with_config("run", "run continuously: adaptive polling, live delivery, /healthz, /metrics, status page")
    with_config("poll-once", "poll LL2 once, record what changed and deliver what is due")
    with_config("check-config", "validate a config file and print a summary, secrets masked")
    with_config("status", "what is docked now, the last poll and the delivery queue")
    enable = with_config("enable-target", "re-enable a target that was disabled (e.g. after HTTP 410)")
    enable.add_argument("target", metavar="TARGET_KEY", help="the key `status` shows, e.g. webhook:1a2b...")
    trial = with_config(
        "test-target", "send one marked test message to one target and print the platform's answer"
    )
    trial.add_argument("target", metavar="KEY", help="the key `status` shows, e.g. telegram:-100123")
    init = commands.add_parser(
        "init-config",
        help="write the example configuration (every key with its default) to PATH",
        description="write the example configuration (every key with its default) to PATH",
    )
    init.add_argument("path", nargs="?", type=Path, default=Path("dockwatch.toml"), metavar="PATH")
    db = commands.add_parser("db", help="the database schema: upgrade it or show its revision")
    db_actions = db.add_subparsers(dest="db_action", required=True, metavar="ACTION", parser_class=_Parser)
    for name, help_text in (
        ("upgrade", "upgrade the database schema to this version's (run and poll-once do it at start)"),
        ("current", "show the database's schema revision and whether it is this version's; read-only"),
    ):
        action = db_actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument("--config", required=True, type=Path, metavar="FILE")
    commands.add_parser(
        "demo",
        help="replay recorded LL2 pages through the real pipeline; no config or network needed",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(verbose=args.verbose, quiet=args.quiet)
    try:
        return _dispatch(args)
    except ConfigError as error:
        return _fail(f"config error: {error}", EXIT_CONFIG)
    except UpstreamError as error:
        return _fail(f"upstream error: {error}", EXIT_UPSTREAM)
    except StorageError as error:
        return _fail(f"storage error: {error}", EXIT_STORAGE)
    except ResourceUnavailable as error:
        return _fail(f"unavailable: {error}", EXIT_UNAVAILABLE)
    except DockwatchError as error:
        return _fail(f"error: {error}", EXIT_INTERNAL)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as error:  # the process boundary: a traceback is a bug, shown only on request
        logging.getLogger("dockwatch").debug("internal error", exc_info=True)
        return _fail(
            f"internal error: {type(error).__name__}: {error} (run with -v for the traceback)",
            EXIT_INTERNAL,
        )


def _dispatch(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `--version` and usage errors need neither pydantic nor SQLAlchemy,
    # nor even asyncio (which brings ssl and socket along).
    import asyncio

    from dockwatch.bot import commands
    from dockwatch.bot.config import require_targets

    if args.command == "demo":
        return asyncio.run(commands.demo(sys.stdout))
    if args.command == "init-config":
        print(commands.init_config(args.path))
        return EXIT_OK
    config = _load(args.config)
    if args.command == "status":
        print(asyncio.run(commands.status(config)))
        return EXIT_OK
    if args.command == "db":
        action = commands.db_upgrade if args.db_action == "upgrade" else commands.db_current
        print(asyncio.run(action(config)))
        return EXIT_OK
    if args.command == "enable-target":
        print(asyncio.run(commands.enable_target(config, args.target)))
        return EXIT_OK
    if args.command == "test-target":
        try:
            result = asyncio.run(commands.test_target(config, args.target))
        except commands.UnknownTarget as error:
            return _fail(str(error), EXIT_CONFIG)
        if not result.sent:
            return _fail(" ".join(result.lines), EXIT_NOT_DELIVERED)
        print("\n".join(result.lines))
        return EXIT_OK
    require_targets(config, str(args.config))
    if args.command == "check-config":
        database, moves = asyncio.run(commands.database_summary(config))
        print(commands.config_summary(config, args.config, database=database, moves=moves))
        return EXIT_OK
    if args.command == "run":
        from dockwatch.bot.malloc import limit_arenas

        limit_arenas()  # before the store's and the executor's threads make arenas of their own
        return asyncio.run(commands.run_service(config))
    outcome = asyncio.run(commands.poll_once(config))
    if outcome.error is not None:
        return _fail(f"upstream error: {outcome.error}", EXIT_UPSTREAM)
    if not args.quiet:
        print(commands.describe_outcome(outcome))
    return EXIT_OK


def _load(path: Path) -> Config:
    from dockwatch.bot.config import load_config

    return load_config(path, os.environ)


def _fail(message: str, code: int) -> int:
    print(f"dockwatch: {message}", file=sys.stderr)
    return code


def _one_line(record: logging.LogRecord) -> bool:
    """Without -v, an exception in a log record (ours or a library's) is one line, not a traceback."""
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        record.msg = f"{record.getMessage()}: {type(error).__name__}: {error} (-v shows the traceback)"
        record.args = None
        record.exc_info = None
        record.exc_text = None
    return True


def _configure_logging(*, verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    if not verbose:
        handler.addFilter(_one_line)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    logging.captureWarnings(True)  # a library warning becomes one log line, not a multi-line dump
    root.setLevel(logging.WARNING)
    for name in ("dockwatch", "py.warnings"):
        logging.getLogger(name).setLevel(level)
    # discord.py warns at every login about voice and intents dockwatch never uses: cron would mail
    # them on every quiet run. Its errors still show; -v shows everything.
    logging.getLogger("discord").setLevel(logging.DEBUG if verbose else logging.ERROR)
