"""Reading a config: YAML file and command-line overrides into one validated Config.

Precedence: built-in default < YAML file < environment < command line.  The
environment sets a key as ``DAVSERVER_`` + its dotted name in capitals, dots as
double underscores (``DAVSERVER_PORT=8081``, ``DAVSERVER_HTTP__BODY_TIMEOUT=0.5``,
``DAVSERVER_STORE__URL=redis://...``); the value is read as a YAML scalar or list
(``true``, ``0.5``, ``[alice, bob]``); variables naming no key are left alone
(``DAVSERVER_CONFIG`` is the health command's).  Every problem is found
in one pass and reported together; each names the source (file or ``command
line``), the dotted key and what is wrong.  The flat keys of 0.1 are moved to
their section with one deprecation warning per key (``Config.deprecated``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from davserver.config.keys import BY_DOTTED, FLAT, PATH_KEYS, known_keys, suggestion
from davserver.config.model import SECTIONS, Config, consistency_problems
from davserver.errors import ConfigError

COMMAND_LINE = "command line"
ENV_PREFIX = "DAVSERVER_"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader refusing a key given twice (PyYAML silently keeps the last)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: str) -> dict[str, Any]:
    """The file's top-level mapping, as written (checked by :func:`load`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", source=path) from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", source=path) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of key: value", source=path)
    return {str(key): value for key, value in data.items()}


class _Collector:
    """The raw nested values with where each came from, and the problems found so far."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.origin: dict[str, str] = {}  # dotted key (or section) -> file or command line
        self.flat: dict[str, str] = {}  # dotted key -> the flat key it was written as
        self.deprecated: list[str] = []
        self.problems: list[ConfigError] = []

    def add(self, data: Mapping[str, Any], source: str, base: Path | None) -> None:
        for name, value in data.items():
            if "." in name and base is None:  # overrides, environment: http.body_timeout
                self.put(name, value, source, base)
            elif name in SECTIONS and isinstance(value, Mapping):
                for inner, inner_value in value.items():
                    self.put(f"{name}.{inner}", inner_value, source, base)
            elif name in FLAT and not (name in SECTIONS and isinstance(value, Mapping)):
                self.put_flat(name, value, source, base)
            else:
                self.put(name, value, source, base)

    def put_flat(self, flat: str, value: Any, source: str, base: Path | None) -> None:
        dotted = FLAT[flat].dotted
        section, _, name = dotted.partition(".")
        self.deprecated.append(
            f"{source}: {flat} is deprecated: write {dotted} (in the {section}: section, "
            f"as {name}); the flat key is read until the next release"
        )
        self.flat[dotted] = flat
        self.put(dotted, value, source, base)

    def put(self, dotted: str, value: Any, source: str, base: Path | None) -> None:
        section, _, name = dotted.partition(".")
        if base is not None and dotted in PATH_KEYS and isinstance(value, str):
            path = Path(value).expanduser()
            value = str(path if path.is_absolute() else (base / path).absolute())
        if base is not None and dotted == "ldap" and isinstance(value, Mapping):
            from davserver.config.ldap_settings import resolve_files  # its own file keys

            value = resolve_files(value, base)
        if self.origin.get(dotted) == source and source != COMMAND_LINE:
            # one file cannot repeat a key (YAML); this is a flat key and its section's
            written = self.flat.get(dotted, dotted)
            problem = f"given twice (as {written} and as {dotted})"
            self.problems.append(ConfigError(problem, source=source, key=dotted))
        self.origin[dotted] = source
        if name:
            target = self.values.setdefault(section, {})
            if isinstance(target, dict):
                target[name] = value
            else:
                self.values[section] = {name: value}
        else:
            self.values[dotted] = value


def load(config_file: str | None, overrides: Mapping[str, Any]) -> Config:
    """Build the effective Config: defaults, then the YAML file, then the overrides
    (dotted keys such as ``http.body_timeout``; a None value is left out)."""
    collected = _Collector()
    if config_file:
        try:
            data = read_yaml(config_file)
        except ConfigError as exc:
            raise _first_of([exc]) from None
        collected.add(data, config_file, Path(config_file).parent)
    for name, (key, value) in _environment(os.environ).items():
        collected.add({key: value}, f"environment {name}", None)
    given = {key: value for key, value in overrides.items() if value is not None}
    collected.add(given, COMMAND_LINE, None)
    try:
        config = Config.model_validate(collected.values)
    except ValidationError as exc:
        problems = collected.problems + _translate(exc, collected, config_file)
        raise _first_of(problems) from None
    if collected.problems:
        raise _first_of(collected.problems)
    config._source = config_file
    config._deprecated = tuple(collected.deprecated)
    found = [
        ConfigError(problem, source=collected.origin.get(key, config_file or COMMAND_LINE), key=key)
        for key, problem in consistency_problems(config)
    ]
    if found:
        raise _first_of(found)
    return config


def _environment(environ: Mapping[str, str]) -> dict[str, tuple[str, Any]]:
    """``DAVSERVER_HTTP__BODY_TIMEOUT=0.5`` as {variable: ("http.body_timeout", 0.5)}."""
    found: dict[str, tuple[str, Any]] = {}
    for name, text in sorted(environ.items()):
        key = name.removeprefix(ENV_PREFIX).lower().replace("__", ".")
        if not name.startswith(ENV_PREFIX) or key not in BY_DOTTED:
            continue
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text  # the check of the key says what is wrong with it
        found[name] = (key, text if value is None and text else value)
    return found


_KINDS = {
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping of key: value",
    "model_type": "a mapping of key: value",
    "model_attributes_type": "a mapping of key: value",
}


def _translate(exc: ValidationError, collected: _Collector, file: str | None) -> list[ConfigError]:
    problems = []
    for error in exc.errors():
        loc = [part for part in error["loc"] if isinstance(part, str | int)]
        names = [str(part) for part in loc if isinstance(part, str)]
        dotted = ".".join(names[:2])
        shown = dotted + "".join(f"[{part}]" for part in loc[len(names[:2]) :])
        source = collected.origin.get(dotted) or collected.origin.get(names[0]) or file
        message = _message(error, dotted)
        if dotted in collected.flat:
            message += f" (written as {collected.flat[dotted]})"
        problems.append(ConfigError(message, source=source or COMMAND_LINE, key=shown))
    return problems


def _message(error: Any, dotted: str) -> str:
    kind, value = error["type"], error["input"]
    if kind == "extra_forbidden":
        section = dotted.rpartition(".")[0] or None
        near = suggestion(dotted if section else dotted.split(".")[-1])
        hint = f"did you mean {near}? " if near else ""
        return f"unknown key ({hint}known keys: {', '.join(sorted(known_keys(section)))})"
    if kind in _KINDS:
        if value is None:
            return f"must be {_KINDS[kind]}, not empty"
        return f"must be {_KINDS[kind]}, got {type(value).__name__} {value!r}"
    if kind == "literal_error":
        expected = str(error["ctx"]["expected"]).replace("'", "").replace(" or ", ", ")
        return f"must be one of {expected} (got {value!r})"
    if kind == "value_error":
        return f"{error['ctx']['error']} (got {value!r})"
    return f"{error['msg']} (got {value!r})"


def _first_of(problems: list[ConfigError]) -> ConfigError:
    """One ConfigError carrying all of them (``problems``), worded as the first."""
    first = problems[0]
    first.problems = tuple(problems)  # type: ignore[attr-defined]
    return first


def all_problems(exc: ConfigError) -> tuple[ConfigError, ...]:
    return tuple(getattr(exc, "problems", (exc,)))


def key_names() -> list[str]:
    """Every dotted key (the sample config and ``--help`` list them)."""
    return list(BY_DOTTED)
