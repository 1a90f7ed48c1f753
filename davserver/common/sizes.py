"""Byte sizes as operators write them: ``10GiB``, ``500MB``, ``1.5 TiB`` or a plain
integer of bytes.  Parsed once, when the configuration is read."""

from __future__ import annotations

import re
from typing import Final

# Decimal units are powers of 1000 and binary ones of 1024 (IEC 80000-13), as
# `df -H` and `df -h` print them; one letter (K, M, G, T) is binary, like `du`.
UNITS: Final = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "pb": 1000**5,
    "k": 1024,
    "m": 1024**2,
    "g": 1024**3,
    "t": 1024**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "pib": 1024**5,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")


def parse_size(value: object) -> int:
    """Bytes of ``value`` (an int, or a string like ``10GiB``); ValueError says why not."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number of bytes or a size like 10GiB, not {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be a number of bytes or a size like 10GiB, not {value!r}")
    match = _SIZE.fullmatch(value)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in UNITS:
        raise ValueError(
            f"{value!r} is not a size: write bytes (10737418240) or a number with "
            "a unit: B, KB, MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB (of 1024)"
        )
    number = match.group(1)
    if "." in number:
        whole, frac = number.split(".")
        scale = int(10 ** len(frac))
        return (int(whole) * scale + int(frac)) * int(UNITS[unit]) // scale
    return int(number) * int(UNITS[unit])
