"""Configuration: TOML plus ``DOCKWATCH_SECTION__KEY`` environment overrides, validated once into types.

Every problem becomes one ``ConfigError`` line naming the file and the key, never a traceback.
"""

from __future__ import annotations

import copy
import difflib
import importlib.util
import itertools
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from dockwatch.bot.durations import format_duration, parse_duration
from dockwatch.bot.errors import ConfigError, without_credentials
from dockwatch.notifiers import Platform, platforms
from dockwatch.notifiers.base import http_url
from dockwatch.storage.urls import NotADatabaseUrl, parse_url, with_database

ENV_PREFIX = "DOCKWATCH_"
DEFAULT_BASE_URL = "https://ll.thespacedevs.com/2.3.0"
_ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def _duration(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be a duration string like '90s', '10m', '48h' or '7d', got {value!r}")
    return parse_duration(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def _no_bool(value: object) -> object:
    """TOML's ``true`` is not a number, whatever Python thinks of ``bool``."""
    if isinstance(value, bool):
        raise ValueError(f"must be an integer, got {str(value).lower()}")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiConfig(_Section):
    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr = SecretStr("")
    requests_per_hour: Annotated[int, BeforeValidator(_no_bool)] = Field(default=14, ge=2, le=100_000)
    # (a poll costs two calls)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value).rstrip("/")


class StorageConfig(_Section):
    url: str = Field(default="sqlite:///dockwatch.db", repr=False)  # may hold a password

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            parsed = parse_url(value)
        except NotADatabaseUrl:
            raise ValueError(f"{without_credentials(value)!r} is not a database URL") from None
        backend = parsed.backend
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {backend!r}; use sqlite:/// or postgresql://")
        if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
            raise ValueError(
                "an in-memory database forgets everything when the process ends, so every poll would "
                "be a first one and nothing would ever be announced: name a file (sqlite:///dockwatch.db)"
            )
        if backend == "postgresql" and importlib.util.find_spec("asyncpg") is None:
            raise ValueError("PostgreSQL needs the postgres extra: pip install 'dockwatch-ll2[postgres]'")
        return value


class DetectConfig(_Section):
    stale_after: Duration = timedelta(hours=48)
    webcast_window: Duration = timedelta(hours=3)
    """How far from its event's date a live flag is believed (the 30 minutes around a stream's own
    ``start_time``/``end_time`` are fixed)."""


class PollConfig(_Section):
    interval: Duration = timedelta(minutes=10)
    min_interval: Duration = timedelta(minutes=1)

    @model_validator(mode="after")
    def _ordered(self) -> PollConfig:
        if self.min_interval <= timedelta(0) or self.interval <= timedelta(0):
            raise ValueError("durations must be positive")
        if self.min_interval > self.interval:
            raise ValueError("min_interval must not be longer than interval")
        return self


MIN_FAILOVER = timedelta(seconds=5)


class RunConfig(_Section):
    stop_timeout: Duration = timedelta(seconds=10)
    failover: Duration = timedelta(minutes=2)
    """How long the instances sharing a database wait for a poller that went silent before another
    one polls LL2 instead (see ``bot/leadership.py``)."""

    @field_validator("failover")
    @classmethod
    def _long_enough(cls, value: timedelta) -> timedelta:
        # The poller renews its lease three times per term and a standby asks every second or more;
        # shorter than this, a busy database (SQLite waits up to 10 s for a write lock) or a slow
        # renewal would hand the role back and forth.
        if value < MIN_FAILOVER:
            minimum = format_duration(MIN_FAILOVER)
            raise ValueError(f"must be at least {minimum}, got {format_duration(value)}")
        return value


class WebConfig(_Section):
    listen: str = "127.0.0.1:8080"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value == "":
            return value
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"must be HOST:PORT (or empty to disable), got {value!r}")
        return value

    @property
    def address(self) -> tuple[str, int] | None:
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class Config(_Section):
    """The whole configuration file."""

    api: ApiConfig = ApiConfig()
    storage: StorageConfig = StorageConfig()
    detect: DetectConfig = DetectConfig()
    poll: PollConfig = PollConfig()
    run: RunConfig = RunConfig()
    web: WebConfig = WebConfig()
    platforms: dict[str, Any] = {}
    """Each configured platform's validated table by table name (``webhooks``, ``telegram``, ...)."""

    def configured_platforms(self) -> list[tuple[Platform, Any]]:
        """The installed platforms this config uses, with their settings, in registry order."""
        installed = platforms()
        return [(installed[table], settings) for table, settings in self.platforms.items()]


def require_targets(config: Config, source: str) -> None:
    """Polling with nowhere to deliver would record notifications that nobody ever receives.

    A platform counts when it lists a target or lets chats subscribe (its optional
    ``subscribable(settings)``: Telegram always, Discord with a bot token).
    """
    for platform, settings in config.configured_platforms():
        subscribable = getattr(platform, "subscribable", None)
        if platform.targets(settings) or (subscribable is not None and subscribable(settings)):
            return
    tables = ", ".join(f"[{platform.table}]" for platform, _ in config.configured_platforms())
    reason = f"{tables} configure{'s' if len(config.platforms) == 1 else ''} none" if tables else "none"
    raise ConfigError(
        f"{source}: no delivery targets ({reason}): add a [[webhooks]] table (see config.example.toml)"
    )


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read ``path``, apply environment overrides and ``${VAR}`` references, and validate."""
    environ = os.environ if environ is None else environ
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # an editor's BOM is harmless
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None
    return config_from_mapping(data, source=str(path), environ=environ, base_dir=path.parent)


def config_from_mapping(
    data: dict[str, Any],
    *,
    source: str,
    environ: Mapping[str, str],
    base_dir: Path | None = None,
) -> Config:
    data = copy.deepcopy(data)
    from_env = _apply_env_overrides(data, environ, source)
    data = _expand_references(data, environ, source, ())
    if "platforms" in data:
        raise ConfigError(f"{source}: unknown key platforms")
    data["platforms"] = _platform_tables(data, source, from_env)
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{source}: {_describe(error, model=Config, from_env=from_env)}") from None
    if base_dir is not None:
        config = config.model_copy(
            update={"storage": StorageConfig(url=_anchor_sqlite(config.storage.url, base_dir))}
        )
    return config


def _platform_tables(data: dict[str, Any], source: str, from_env: Mapping[str, str]) -> dict[str, Any]:
    """Take each installed platform's table out of ``data`` and validate it with the platform's model.

    An empty ``[[webhooks]]`` list configures nothing and is left out, so "no targets" stays true.
    """
    validated: dict[str, Any] = {}
    for table, platform in platforms().items():
        if table not in data:
            continue
        raw = data.pop(table)
        model = platform.settings_model
        try:
            settings = TypeAdapter(list[model] if platform.many else model).validate_python(raw)  # type: ignore[valid-type]
        except ValidationError as error:
            described = _describe(error, prefix=(table,), model=model, from_env=from_env, many=platform.many)
            raise ConfigError(f"{source}: {described}") from None
        if settings or not platform.many:
            validated[table] = settings
    return validated


def _apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str], source: str) -> dict[str, str]:
    """``DOCKWATCH_API__API_KEY=x`` sets ``api.api_key``; ``DOCKWATCH_WEBHOOKS__0__URL`` a list item.

    Values stay strings; validation coerces them (``"30"`` to an int, a JSON array or comma-separated
    text to a list) where the key's type asks for it. Returns each set key (``api.api_key``) with the
    variable that set it, so an error names the variable rather than a key the file never had.
    """
    tables = {name.upper() for name in [*Config.model_fields, *platforms()] if name != "platforms"}
    from_env: dict[str, str] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        if "__" not in name:
            if name[len(ENV_PREFIX) :] in tables:
                raise ConfigError(f"{source}: environment {name}: set keys as {name}__<KEY>")
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            raise ConfigError(f"{source}: environment {name}: empty key part")
        if path[0].upper() not in tables:
            hint = _suggestion(path[0], tables, lower=True)
            raise ConfigError(f"{source}: environment {name}: no table {path[0]!r}{hint}")
        node: Any = data
        for part, following in itertools.pairwise(path):
            node = _child(node, part, following, name, source)
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: environment {name}: {path[-1]!r} must name a key in a table")
        node[path[-1]] = environ[name]
        from_env[".".join(path)] = name
    return from_env


def _child(node: Any, part: str, following: str, name: str, source: str) -> Any:
    """Step into ``node[part]``, creating a table, or a list when the next part is an index."""
    empty: Any = [] if following.isdigit() else {}
    if isinstance(node, list):
        index = int(part) if part.isdigit() else -1
        if not 0 <= index <= len(node):
            raise ConfigError(f"{source}: environment {name}: no list item {part!r}")
        if index == len(node):
            node.append(empty)
        return node[index]
    if isinstance(node, dict):
        return node.setdefault(part, empty)
    raise ConfigError(f"{source}: environment {name}: {part!r} is not a table")


def _expand_references(value: Any, environ: Mapping[str, str], source: str, path: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _expand_references(v, environ, source, (*path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_references(v, environ, source, (*path, str(i))) for i, v in enumerate(value)]
    if isinstance(value, str) and (match := _ENV_REFERENCE.match(value)):
        variable = match.group(1)
        if variable not in environ:
            key = ".".join(path)
            raise ConfigError(f"{source}: {key}: environment variable {variable} is not set")
        return environ[variable]
    return value


def _describe(
    error: ValidationError,
    prefix: tuple[str, ...] = (),
    *,
    model: type[BaseModel] | None = None,
    from_env: Mapping[str, str] | None = None,
    many: bool = False,
) -> str:
    errors = error.errors()
    # A mistyped key (``urll``) is both unknown and, when required, missing: the unknown key, with
    # its "did you mean", says what to fix.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(str(part) for part in (*prefix, *first["loc"]))
    key = ".".join(loc) or "(top level)"
    origin = f" (set by environment {from_env[key]})" if from_env and key in from_env else ""
    if first["type"] == "extra_forbidden":
        known = _keys_at(model, loc[len(prefix) + (1 if many else 0) : -1]) if model else set()
        return f"unknown key {key}{origin}{_suggestion(loc[-1], known)}"
    message = first["msg"].removeprefix("Value error, ")
    return f"{key}{origin}: {message}"


def _keys_at(model: type[BaseModel], loc: tuple[str, ...]) -> set[str]:
    """The keys a table at ``loc`` inside ``model`` accepts (for "did you mean")."""
    current: Any = model
    for part in loc:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return set()
        current = field.annotation
    return set(getattr(current, "model_fields", {})) - {"platforms"}


def _suggestion(word: str, choices: set[str], *, lower: bool = False) -> str:
    options = {c.lower() for c in choices} if lower else choices
    close = difflib.get_close_matches(word, sorted(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _anchor_sqlite(url: str, base_dir: Path) -> str:
    """A relative SQLite path is relative to the config file, so cron's working directory is moot."""
    parsed = parse_url(url)
    database = parsed.database
    if parsed.backend != "sqlite" or not database or database == ":memory:":
        return url
    if Path(database).is_absolute():
        return url
    return with_database(url, str((base_dir / database).resolve()))
