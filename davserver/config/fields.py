"""How a config key is declared: its default, help, checks and command-line flag.

Every key is a field of a section model, declared once with :func:`key`: the
default and type in the annotation, the help text (``--help`` and the sample
config's comments), the check as an annotated validator, and what the server
does with it (``live``: applied by SIGHUP; ``path``: relative to the config
file; ``flag``: its command-line spelling; ``old``: the flat key of earlier
releases).  Checks raise ValueError with the message a user reads after the key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.fields import FieldInfo

from davserver.config.checks import header_problem, template_problem

# Every section refuses unknown keys and takes values as YAML typed them: strict,
# so that `port: "80"` or `readonly: 1` is a mistake named at its key, not a guess.
SECTION = ConfigDict(strict=True, frozen=True, extra="forbid", validate_default=False)

NO_FLAG = ""  # metadata flag: no command-line option (structured values)


@dataclass(frozen=True)
class Meta:
    """What a key means to the server beyond its type (read by cli and loading)."""

    help: str
    flag: str | None = None  # None: --SECTION-KEY generated; NO_FLAG: none
    metavar: str | None = None
    live: bool = False
    path: bool = False
    shown: str | None = None  # the default as --help shows it, where it is computed
    old: str | None = None  # the flat key of 0.1 (None: the field name)


def key(
    default: Any = None,
    help: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    flag: str | None = None,
    metavar: str | None = None,
    live: bool = False,
    path: bool = False,
    shown: str | None = None,
    old: str | None = None,
) -> Any:
    """A config key: a pydantic Field carrying its :class:`Meta`."""
    meta = Meta(help, flag, metavar, live, path, shown, old)
    extra: dict[str, Any] = {"davserver": meta}
    if factory is not None:
        return Field(default_factory=factory, description=help, json_schema_extra=extra)
    return Field(default, description=help, json_schema_extra=extra)


def meta_of(field: FieldInfo) -> Meta:
    extra = field.json_schema_extra
    found = extra.get("davserver") if isinstance(extra, dict) else None
    if not isinstance(found, Meta):
        raise TypeError("every config field is declared with config.fields.key()")
    return found


def fields_of(model: type[BaseModel]) -> dict[str, FieldInfo]:
    return dict(model.model_fields)


# -- checks (each message completes "KEY: ...") -------------------------------------------


def _between(low: float, high: float, unit: str = "") -> Callable[[Any], Any]:
    shown = f"must be between {low:g} and {high:g}{unit}"

    def check(value: Any) -> Any:
        if not low <= value <= high:
            raise ValueError(shown)
        return value

    return check


def Between(low: int, high: int) -> AfterValidator:
    return AfterValidator(_between(low, high))


def Seconds(low: float, high: float) -> AfterValidator:
    return AfterValidator(_between(low, high, " seconds"))


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be a positive number of seconds")
    return value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


Positive = AfterValidator(_positive)
PositiveSeconds = Annotated[float, Positive]
PositiveWholeSeconds = Annotated[int, Positive]
LogLevel = Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)]
LogFormat = Literal["text", "json"]
ActiveContent = Literal["sandbox", "attachment", "inline"]
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
ACTIVE_CONTENT_MODES = ("sandbox", "attachment", "inline")


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` as (host, port); ValueError says what is wrong."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("must be HOST:PORT (e.g. 127.0.0.1:8081 or [::1]:8081)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _listen(value: str) -> str:
    parse_listen(value)
    return value


def _user_names(value: list[str]) -> list[str]:
    for name in value:
        if not name or ":" in name:
            raise ValueError(f"every entry must be a user name (as users log in), not {name!r}")
    return value


def _urls(value: list[str]) -> list[str]:
    for url in value:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"every entry must be an http:// or https:// URL, not {url!r}")
    return value


def _networks(value: list[str]) -> list[str]:
    from davserver.common.net import parse_networks

    try:
        parse_networks(value)
    except ValueError as exc:
        raise ValueError(f"every entry must be an IP address or CIDR network: {exc}") from None
    return value


def _permission_rules(value: list[Any]) -> list[Any]:
    from davserver.config.permission_rules import parse_rules  # the rules' own validation

    parse_rules(value)
    return value


def _store_url(value: str) -> str:
    from davserver.lockstore.redis_url import is_sentinel, parse_sentinel_url

    if is_sentinel(value):
        parse_sentinel_url(value)  # its ValueError says what is wrong
        return value
    schemes = ("memory://", "sqlite://", "redis://", "rediss://", "redis+sentinel://")
    if not value.startswith(schemes):
        raise ValueError(f"must start with one of {', '.join(schemes)}")
    if (
        value.startswith("sqlite://")
        and value != "sqlite://"
        and not value.startswith("sqlite:///")
    ):
        raise ValueError(
            "sqlite needs an absolute path: sqlite:///ABSOLUTE/PATH (or sqlite:// alone)"
        )
    return value


def _controller_spec(value: str) -> str:
    module, sep, name = value.partition(":")
    if value and (not sep or not module or not name.isidentifier()):
        raise ValueError(f"must be module.path:ClassName, not {value!r}")
    return value


def _size(value: Any) -> Any:
    from davserver.common.sizes import parse_size  # 10GiB, 500MB or bytes

    return None if value is None else parse_size(value)


def _sizes(value: Any) -> Any:
    if not isinstance(value, dict):
        return value  # the type check says what is wrong
    parsed: dict[Any, int | None] = {}
    for user, size in value.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise ValueError(f"{user!r} is not a user name")
        try:
            parsed[user] = _size(size)
        except ValueError as exc:
            raise ValueError(f"{user}: {exc}") from None
    return parsed


def _ldap(value: dict[str, Any] | None) -> dict[str, Any] | None:
    from davserver.config.ldap_settings import parse  # the section's own checks

    if value is not None:
        parse(value, files=False)  # files once relative names are resolved
    return value


def _user_header(value: str | None) -> str | None:
    problem = header_problem(value) if value else None
    if problem:
        raise ValueError(problem)
    return value


def _user_root(value: str | None) -> str | None:
    problem = template_problem(value) if value else None
    if problem:
        raise ValueError(problem)
    return value


def _shared_folders(value: list[str]) -> list[str]:
    for folder in value:
        if not folder.startswith("/") or folder == "/":
            raise ValueError(
                f"every entry must be an absolute path below the root such as /team, not {folder!r}"
            )
    return value


Listen = Annotated[str, AfterValidator(_listen)]
SharedFolders = Annotated[list[str], AfterValidator(_shared_folders)]
UserHeader = Annotated[str | None, AfterValidator(_user_header)]
UserRoot = Annotated[str | None, AfterValidator(_user_root)]
ControllerSpec = Annotated[str, AfterValidator(_controller_spec)]
Size = Annotated[int, BeforeValidator(_size)]
Sizes = Annotated[dict[str, int | None], BeforeValidator(_sizes)]
LdapMapping = Annotated[dict[str, Any] | None, AfterValidator(_ldap)]
UserNames = Annotated[list[str], AfterValidator(_user_names)]
Urls = Annotated[list[str], AfterValidator(_urls)]
Networks = Annotated[list[str], AfterValidator(_networks)]
PermissionRules = Annotated[list[Any], AfterValidator(_permission_rules)]
StoreUrl = Annotated[str, AfterValidator(_store_url)]
