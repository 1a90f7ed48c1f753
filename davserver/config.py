"""Configuration: one schema (name, type, default, help) read from YAML and the CLI.

Precedence: built-in default < YAML file < command line.  Every error names the
source (file or ``command line``), the key, and what is wrong; ``check-config``
and ``serve`` report the very same :class:`~davserver.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from davserver.errors import ConfigError

LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class Option:
    """One configuration key: its type, default and help text (shown by the CLI)."""

    name: str
    type: type
    default: Any
    help: str
    check: Callable[[Any], str | None] | None = None  # returns an error message or None
    nullable: bool = False


def _port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "must be between 0 and 65535"


def _positive(value: int) -> str | None:
    return None if value > 0 else "must be a positive number of seconds"


def _workers(value: int) -> str | None:
    return None if 1 <= value <= 64 else "must be between 1 and 64"


def _between(low: int, high: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high}"

    return check


def _log_level(value: str) -> str | None:
    return None if value.lower() in LOG_LEVELS else f"must be one of {', '.join(LOG_LEVELS)}"


def _store_url(value: str) -> str | None:
    schemes = ("memory://", "sqlite://", "redis://", "rediss://")
    if value.startswith(schemes):
        return None
    return f"must start with one of {', '.join(schemes)}"


SCHEMA: tuple[Option, ...] = (
    Option("root", str, "./share", "directory to serve (created if missing)"),
    Option("host", str, "127.0.0.1", "address to listen on"),
    Option("port", int, 8080, "TCP port to listen on (0 picks a free one)", _port),
    Option(
        "htpasswd",
        str,
        None,
        "htpasswd file with bcrypt hashes (htpasswd -B); without it access is anonymous",
        nullable=True,
    ),
    Option("readonly", bool, False, "refuse every method that changes something"),
    Option("log_level", str, "info", "debug, info, warning or error", _log_level),
    Option(
        "state_dir",
        str,
        None,
        "server state (locks, properties); default ROOT/.davserver, never served",
        nullable=True,
    ),
    Option(
        "lock_store",
        str,
        None,
        "lock/property store URL: memory://, sqlite:///PATH, redis://HOST:PORT/DB; "
        "default sqlite in state_dir",
        _store_url,
        nullable=True,
    ),
    Option(
        "workers",
        int,
        None,
        "worker processes sharing the port (SO_REUSEPORT); default: one per CPU core "
        "(one with lock_store memory://)",
        _workers,
        nullable=True,
    ),
    Option(
        "lock_timeout_default",
        int,
        3600,
        "seconds granted when a LOCK has no Timeout header",
        _positive,
    ),
    Option("lock_timeout_max", int, 86400, "longest timeout granted, in seconds", _positive),
    Option(
        "lock_allow_infinite",
        bool,
        False,
        "grant Timeout: Infinite (otherwise lock_timeout_max is granted)",
    ),
    Option(
        "auth_max_failures",
        int,
        10,
        "failed logins per client address or user name within auth_failure_window before "
        "429 (0: no throttling)",
        _between(0, 1_000_000),
    ),
    Option(
        "auth_failure_window",
        int,
        60,
        "seconds over which failed logins are counted (and refused once too many)",
        _between(1, 86_400),
    ),
    # The HTTP layer (davserver/http): limits enforced while reading, timeouts.
    Option(
        "max_request_line",
        int,
        8192,
        "longest request line in bytes (method, URL, version); longer: 414",
        _between(256, 1 << 20),
    ),
    Option(
        "max_header_bytes",
        int,
        65536,
        "largest header section in bytes; larger: 431",
        _between(1024, 1 << 24),
    ),
    Option("max_header_count", int, 100, "most header fields; more: 431", _between(8, 10000)),
    Option(
        "max_if_header_bytes",
        int,
        16384,
        "largest If header (lock tokens, ETags) in bytes; larger: 431",
        _between(256, 1 << 24),
    ),
    Option(
        "max_upload_bytes",
        int,
        0,
        "largest request body in bytes (0: unlimited); larger: 413",
        _between(0, 1 << 62),
    ),
    Option(
        "header_timeout",
        int,
        10,
        "seconds a client has to send a request line and headers; then 408",
        _positive,
    ),
    Option(
        "body_timeout",
        int,
        30,
        "seconds a request body (or a client reading our answer) may stall; then 408",
        _positive,
    ),
    Option(
        "keepalive_timeout",
        int,
        30,
        "seconds an idle kept-alive connection stays open",
        _positive,
    ),
    Option(
        "max_connections_per_address",
        int,
        64,
        "open connections per client address and worker process (0: unlimited); more: 503",
        _between(0, 1 << 20),
    ),
    Option(
        "max_threads",
        int,
        256,
        "most worker threads per process (16 at rest, more while uploads are slow)",
        _between(16, 4096),
    ),
)

OPTIONS: Mapping[str, Option] = {option.name: option for option in SCHEMA}


@dataclass(frozen=True)
class Config:
    """The effective configuration; ``source`` is the YAML file used, if any."""

    root: str = "./share"
    host: str = "127.0.0.1"
    port: int = 8080
    htpasswd: str | None = None
    readonly: bool = False
    log_level: str = "info"
    state_dir: str | None = None
    lock_store: str | None = None
    workers: int | None = None
    lock_timeout_default: int = 3600
    lock_timeout_max: int = 86400
    lock_allow_infinite: bool = False
    auth_max_failures: int = 10
    auth_failure_window: int = 60
    max_request_line: int = 8192
    max_header_bytes: int = 65536
    max_header_count: int = 100
    max_if_header_bytes: int = 16384
    max_upload_bytes: int = 0
    header_timeout: int = 10
    body_timeout: int = 30
    keepalive_timeout: int = 30
    max_connections_per_address: int = 64
    max_threads: int = 256
    source: str | None = None

    @property
    def root_path(self) -> Path:
        return Path(self.root).expanduser().resolve()

    @property
    def worker_count(self) -> int:
        """``workers``, or one per CPU core (like nginx's ``worker_processes auto``);
        a memory:// store lives in one process, so it gets one worker by default."""
        if self.workers is not None:
            return self.workers
        if (self.lock_store or "").startswith("memory://"):
            return 1
        return max(1, min(64, len(os.sched_getaffinity(0))))

    @property
    def state_path(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir).expanduser().resolve()
        return self.root_path / ".davserver"


def _type_name(kind: type) -> str:
    return {int: "an integer", bool: "true or false", str: "a string"}[kind]


def validate_value(name: str, value: Any, source: str) -> Any:
    """Check one value against the schema; return it (normalised) or raise ConfigError."""
    option = OPTIONS.get(name)
    if option is None:
        known = ", ".join(sorted(OPTIONS))
        raise ConfigError(f"unknown key (known keys: {known})", source=source, key=name)
    if value is None:
        if option.nullable:
            return None
        raise ConfigError(f"must be {_type_name(option.type)}, not empty", source=source, key=name)
    # bool is a subclass of int: refuse `port: true` explicitly.
    wrong_bool = option.type is int and isinstance(value, bool)
    if not isinstance(value, option.type) or wrong_bool:
        shown = type(value).__name__
        raise ConfigError(
            f"must be {_type_name(option.type)}, got {shown} {value!r}", source=source, key=name
        )
    if option.check is not None:
        problem = option.check(value)
        if problem:
            raise ConfigError(f"{problem} (got {value!r})", source=source, key=name)
    if name == "log_level":
        value = str(value).lower()
    return value


def read_yaml(path: str) -> dict[str, Any]:
    """Read and validate a YAML config file; every key must be known."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", source=path) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", source=path) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of key: value", source=path)
    return {str(key): validate_value(str(key), value, path) for key, value in data.items()}


def load(config_file: str | None, overrides: Mapping[str, Any]) -> Config:
    """Build the effective Config: defaults, then the YAML file, then CLI overrides."""
    values: dict[str, Any] = {}
    if config_file:
        values.update(read_yaml(config_file))
    for key, value in overrides.items():
        if value is not None:
            values[key] = validate_value(key, value, "command line")
    config = Config(**values, source=config_file)
    _check_consistency(config)
    return config


def _check_consistency(config: Config) -> None:
    source = config.source or "command line"
    if config.lock_timeout_default > config.lock_timeout_max:
        raise ConfigError(
            f"must not exceed lock_timeout_max ({config.lock_timeout_max})",
            source=source,
            key="lock_timeout_default",
        )
    if config.worker_count > 1 and (config.lock_store or "").startswith("memory://"):
        raise ConfigError(
            "memory:// keeps locks inside one process; with several workers use "
            "sqlite:///PATH or redis://",
            source=source,
            key="lock_store",
        )


def defaults() -> dict[str, Any]:
    return {field.name: field.default for field in dataclasses.fields(Config)}
