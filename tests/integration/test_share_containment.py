"""Resolution that cannot be raced: names below an open directory, never through a link."""

from __future__ import annotations

import errno
import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from davserver.fs import containment
from davserver.fs.containment import DIR_FLAGS, PATH_DIR_FLAGS, DirStack, open_beneath
from davserver.fs.trees import remove_at


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways to resolve: the kernel's openat2 and the O_NOFOLLOW walk."""
    if request.param == "walk":
        monkeypatch.setattr(containment, "KERNEL_RESOLVES", False)
    else:
        assert containment.KERNEL_RESOLVES, "this kernel should have openat2 (Linux 5.6+)"
    return str(request.param)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    root = tmp_path / "share"
    outside = tmp_path / "outside"
    (root / "dir" / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "dir" / "file.txt").write_text("x")
    (outside / "secret.txt").write_text("s")
    (root / "escape").symlink_to(outside)  # directory symlink out of the share
    (root / "escape-file").symlink_to(outside / "secret.txt")
    (root / "inside").symlink_to("dir/sub")  # relative, stays inside: still refused
    (root / "dir" / "up").symlink_to("..")
    (root / "dangling").symlink_to(outside / "missing")
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    yield root, fd
    os.close(fd)


OK, LINK, MISSING = "ok", "link", "missing"
CASES = [
    ("dir", OK),
    ("dir/file.txt", OK),
    ("dir/sub", OK),
    ("dir/missing", MISSING),
    ("dir/missing/deeper/still", MISSING),
    ("dir/file.txt/below-a-file", MISSING),
    ("escape", LINK),
    ("escape/secret.txt", LINK),
    ("escape/new-file", LINK),
    ("escape-file", LINK),
    ("inside", LINK),
    ("inside/new", LINK),
    ("dir/up/dir/file.txt", LINK),
    ("dangling", LINK),
    ("dangling/below", LINK),
    ("loop1", LINK),
    ("loop1/x", LINK),
]


def outcome(fd: int, relative: str, flags: int) -> str:
    try:
        os.close(open_beneath(fd, relative.split("/"), flags))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return LINK
        assert exc.errno in (errno.ENOENT, errno.ENOTDIR), exc
        return MISSING
    return OK


@pytest.mark.parametrize(("relative", "expected"), CASES)
def test_no_link_is_ever_followed(tree, resolver: str, relative: str, expected: str) -> None:
    _, fd = tree
    flags = os.O_RDONLY | os.O_NONBLOCK
    assert outcome(fd, relative, flags) == expected
    if expected != LINK:
        assert outcome(fd, relative, os.O_PATH) == expected


@pytest.mark.parametrize("relative", ["escape", "dir/up", "escape-file"])
def test_o_path_nofollow_opens_a_final_link_itself(tree, resolver: str, relative: str) -> None:
    _, fd = tree
    link = open_beneath(fd, relative.split("/"), os.O_PATH | os.O_NOFOLLOW)
    try:
        assert os.path.islink(f"/proc/self/fd/{link}")
        assert os.readlink(f"/proc/self/fd/{link}").endswith(relative.split("/")[-1])
    finally:
        os.close(link)


def test_creating_through_a_link_is_refused(tree, resolver: str) -> None:
    root, fd = tree
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    with pytest.raises(OSError) as raised:
        open_beneath(fd, ["escape", "new.txt"], flags)
    assert raised.value.errno == errno.ELOOP
    assert sorted(p.name for p in (root.parent / "outside").iterdir()) == ["secret.txt"]
    made = open_beneath(fd, ["dir", "new.txt"], flags, 0o600)
    os.close(made)
    assert (root / "dir" / "new.txt").exists()


@pytest.mark.parametrize("bad", [[""], ["."], [".."], ["dir", ".."], ["dir", ""]])
def test_only_canonical_names(tree, resolver: str, bad: list[str]) -> None:
    _, fd = tree
    with pytest.raises(OSError) as raised:
        open_beneath(fd, bad, os.O_PATH)
    assert raised.value.errno in (errno.EINVAL, errno.ELOOP)


def make_chain(top: Path, levels: int, name: str = "d") -> None:
    """``top/d/d/...`` by descriptors (a path-based mkdir fails beyond PATH_MAX)."""
    os.mkdir(top)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        os.mkdir(name, dir_fd=fd)
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Path]:
    top = tmp_path / "chain"
    make_chain(top, 3000)
    yield top
    remove_at(os.open(tmp_path, os.O_PATH), "chain")


def open_fds(tree: Path) -> int:
    """This process's descriptors open on ``tree`` or below it: only these, since
    other threads (a store's, a log's) may open and close files meanwhile."""
    top = str(tree)
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except FileNotFoundError:  # closed since the listing
            continue
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:  # deeper than a path can say: the chain
                count += 1
            continue
        if target == top or target.startswith(top + "/"):
            count += 1
    return count


@pytest.fixture
def quiet_fds() -> Iterator[None]:
    """No garbage collection (closing other tests' descriptors) while counting ours."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def test_paths_longer_than_path_max(chain: Path, resolver: str, quiet_fds: None) -> None:
    """3,000 levels are 6,000 bytes of names: resolved in pieces, never as one path."""
    fd = os.open(chain, os.O_RDONLY | os.O_DIRECTORY)
    names = ["d"] * 3000
    try:
        before = open_fds(chain)
        made = open_beneath(fd, [*names, "f.txt"], os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(made, b"bottom")
        os.close(made)
        bottom = open_beneath(fd, names, DIR_FLAGS)
        assert os.listdir(bottom) == ["f.txt"]
        os.close(bottom)
        assert open_fds(chain) == before  # nothing leaked on the way
        os.symlink("/", "link", dir_fd=open_beneath(fd, names[:1500], PATH_DIR_FLAGS))
        with pytest.raises(OSError) as raised:
            open_beneath(fd, [*names[:1500], "link", "etc"], PATH_DIR_FLAGS)
        assert raised.value.errno == errno.ELOOP
    finally:
        os.close(fd)


def test_dir_stack_holds_a_bounded_number_of_descriptors(chain: Path, quiet_fds: None) -> None:
    limit = 2 + containment.RECENT + containment.CHECKPOINTS
    baseline = open_fds(chain)
    most = 0
    with DirStack(os.open(chain, DIR_FLAGS)) as stack:
        while stack.enter("d"):
            most = max(most, open_fds(chain) - baseline)
        assert stack.depth == 3000
        os.close(os.open("bottom", os.O_WRONLY | os.O_CREAT, dir_fd=stack.fd))
        while stack.depth:
            assert stack.leave() == "d"
            assert os.listdir(stack.fd) == ["d"]  # reopened where it was closed
            most = max(most, open_fds(chain) - baseline)
    assert most <= limit, most
    assert open_fds(chain) == baseline


def test_dir_stack_notices_a_tree_changed_under_it(tmp_path: Path) -> None:
    """A level reopened on the way back up must be the directory it left."""
    make_chain(tmp_path / "top", 200)
    with DirStack(os.open(tmp_path / "top", DIR_FLAGS)) as stack:
        for _ in range(200):
            assert stack.enter("d")
        os.rename(tmp_path / "top" / "d", tmp_path / "elsewhere")
        os.mkdir(tmp_path / "top" / "d")
        with pytest.raises(OSError) as raised:
            for _ in range(200):
                stack.leave()
                os.listdir(stack.fd)
        assert raised.value.errno == errno.ESTALE
    remove_at(os.open(tmp_path, os.O_PATH), "elsewhere")


def test_dir_stack_does_not_enter_links_or_files(tree) -> None:
    _, fd = tree
    with DirStack(os.dup(fd)) as stack:
        assert not stack.enter("escape")
        assert not stack.enter("missing")
        assert stack.enter("dir")
        assert not stack.enter("file.txt")
        assert not stack.enter("up")
        assert stack.names == ["dir"]


def test_exchange_swaps_two_names(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "inner").write_text("a")
    (tmp_path / "b").write_text("b")
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        assert containment.exchange(fd, "a", fd, "b")
    finally:
        os.close(fd)
    assert (tmp_path / "a").read_text() == "b"
    assert (tmp_path / "b" / "inner").read_text() == "a"
