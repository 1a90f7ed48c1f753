"""Config files for tests: dotted keys (``http.body_timeout``) written as YAML sections."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def nested(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"http.body_timeout": 1, "port": 0}`` as ``{"http": {"body_timeout": 1}, "port": 0}``."""
    found: dict[str, Any] = {}
    for key, value in values.items():
        section, _, name = key.partition(".")
        if name:
            found.setdefault(section, {})[name] = value
        else:
            found[key] = value
    return found


def write_config(path: Path, values: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(nested(values)))
    return path
