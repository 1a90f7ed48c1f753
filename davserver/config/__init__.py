"""Configuration: one typed model, read from YAML and the command line.

Every key is declared once, as a field of a section model (:mod:`.http`, :mod:`.dav`,
:mod:`.observe`, the top level in :mod:`.model`): type, default, help, check, and
whether SIGHUP applies it, whether it is a path, its command-line flag.  The loader
(:mod:`.loading`), ``--help`` and the flags (``davserver.cli``), SIGHUP
(``davserver.runtime.lifecycle``) and the sample ``config/davserver.yaml`` (checked by a
test) all read the model; the HTTP layer takes its section as it is
(``HttpLimits`` is :class:`~.http.HttpSection`).

Why pydantic (v2): the model *is* the typed object the server reads
(``config.http.body_timeout`` is a float to mypy and at run time), checks are
validators next to the key they guard, and a failed validation returns every
problem at once with its location (``('http', 'body_timeout')``), which becomes the
dotted key ``check-config`` names.  Strict mode keeps YAML's types honest
(``port: "80"`` or ``readonly: 1`` are mistakes, not guesses); ``extra="forbid"``
refuses unknown keys.  msgspec is faster but its errors stop at the first problem;
attrs+cattrs would need the error paths and the strictness written by hand.

Precedence: built-in default < YAML file < command line.  Every error names the
source (file or ``command line``), the dotted key, and what is wrong;
``check-config`` and ``serve`` report the very same :class:`~davserver.errors.ConfigError`.
The flat keys of 0.1 (``body_timeout``, ``lock_timeout_max``, ``admin``, ...) are
still read, each with a deprecation warning naming its dotted key.
"""

from __future__ import annotations

from davserver.config.fields import LOG_FORMATS, LOG_LEVELS, parse_listen
from davserver.config.keys import BY_DOTTED, FLAT, KEYS, LIVE_KEYS, PATH_KEYS, Key
from davserver.config.loading import COMMAND_LINE, all_problems, load, read_yaml
from davserver.config.model import (
    SECTIONS,
    Config,
    consistency_problems,
    dotted_values,
    replaced,
    value_at,
)
from davserver.errors import ConfigError

__all__ = [
    "BY_DOTTED",
    "COMMAND_LINE",
    "FLAT",
    "KEYS",
    "LIVE_KEYS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "PATH_KEYS",
    "SECTIONS",
    "Config",
    "ConfigError",
    "Key",
    "all_problems",
    "consistency_problems",
    "dotted_values",
    "load",
    "parse_listen",
    "read_yaml",
    "replaced",
    "value_at",
]
