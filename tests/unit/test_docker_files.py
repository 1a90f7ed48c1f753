"""The image cannot be built here (no docker in CI): check what it relies on by reading."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def in_context(path: str) -> bool:
    """Whether .dockerignore lets ``path`` into the build context (last match wins)."""
    included = True
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/").removeprefix("**/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes) or any(
            fnmatch.fnmatch(part, pattern) for part in parts if line.lstrip("!").startswith("**/")
        ):
            included = negated
    return included


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_private() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    sources = [
        source
        for line in re.findall(r"^COPY (.+)$", dockerfile, re.M)
        for source in line.split()[:-1]
    ]
    assert sources and all(in_context(source) for source in sources), sources
    assert in_context("davserver/dav/methods/get.py")
    for private in (".venv/bin/python", "share/secret.txt", ".git/config", "build/lib/x.py"):
        assert not in_context(private), private
    assert not in_context("davserver.egg-info/PKG-INFO")
    assert not in_context("davserver/__pycache__/cli.cpython-311.pyc")


def test_the_health_check_asks_davserver_where_it_listens() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'CMD ["davserver", "health"]' in dockerfile
    assert "127.0.0.1:8080" not in dockerfile
    assert "rm -rf /tmp/src" in dockerfile  # no build/ or *.egg-info left in the image
