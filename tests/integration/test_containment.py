"""The fast realpath agrees with os.path.realpath, so "no way out of the root" holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from davserver.dav import containment


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "share"
    outside = tmp_path / "outside"
    (root / "dir" / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "dir" / "file.txt").write_text("x")
    (outside / "secret.txt").write_text("s")
    (root / "escape").symlink_to(outside)  # directory symlink out of the share
    (root / "escape-file").symlink_to(outside / "secret.txt")
    (root / "inside").symlink_to("dir/sub")  # relative, stays inside
    (root / "chain").symlink_to("inside")
    (root / "dangling").symlink_to(outside / "missing")
    (root / "dangling-in").symlink_to("nowhere")
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    return root, outside


CASES = [
    "",
    "dir",
    "dir/file.txt",
    "dir/sub",
    "dir/missing",
    "dir/missing/deeper/still",
    "dir/file.txt/below-a-file",
    "escape",
    "escape/secret.txt",
    "escape/new-file",
    "escape-file",
    "inside",
    "inside/new",
    "chain/x/y",
    "dangling",
    "dangling/below",
    "dangling-in",
    "loop1",
    "loop1/x",
    "ünïcödé/ñ",
]


@pytest.mark.parametrize("relative", CASES)
def test_resolved_equals_realpath(tree: tuple[Path, Path], relative: str) -> None:
    root, _ = tree
    path = os.path.abspath(os.path.join(root, relative))
    assert containment.resolved(path) == os.path.realpath(path)


@pytest.mark.parametrize(
    ("relative", "inside"),
    [
        ("dir/file.txt", True),
        ("dir/missing/new", True),
        ("inside/new", True),
        ("escape", False),
        ("escape/secret.txt", False),
        ("escape/new-file", False),
        ("escape-file", False),
        ("dangling", False),
        ("../outside/secret.txt", False),
    ],
)
def test_is_inside(tree: tuple[Path, Path], relative: str, inside: bool) -> None:
    root, _ = tree
    path = os.path.abspath(os.path.join(root, relative))
    assert containment.is_inside(os.path.realpath(root), path) is inside


def test_kernel_resolution_is_used_on_linux() -> None:
    if os.path.isdir("/proc/self/fd"):
        assert containment.KERNEL_RESOLVES
