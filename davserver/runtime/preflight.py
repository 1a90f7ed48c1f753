"""What ``serve`` needs from the machine, checked without changing anything.

``check-config`` and ``serve`` run the same checks and report every problem,
not just the first: the root is a directory (or can be created; a read-only
share is never created), the htpasswd file reads, the state directory can be
created (and lies outside a read-only root), the host resolves, the lock store
opens (Redis answers; a SQLite file's directory exists), the TLS certificate and
key load and belong together, a ``domain_controller`` loads, and the file
named for lock events can be appended.

:func:`warnings` names what would not stop the server but deserves a look: the
folders of the share this user cannot read (a volume's root-owned
``lost+found``), which start-up recovery skips with a warning.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable
from pathlib import Path

from davserver.common.net import is_loopback
from davserver.config import Config
from davserver.dav.logins import proxy_identity
from davserver.dav.logins.controller import load_controller, read_htpasswd
from davserver.errors import ConfigError, StartupError
from davserver.fs.containment import DirStack
from davserver.fs.descend import descend
from davserver.fs.share import Share, child_path
from davserver.fs.uploads import is_temp_name
from davserver.http import tls


def _creatable(path: Path) -> str | None:
    """Why ``path`` (a directory) cannot be created, or None."""
    parent = path
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is not writable{ownership_hint(parent)}"
    return None


def ownership_hint(folder: Path) -> str:
    """What to do about a folder this user cannot write (a bind mount, most often)."""
    uid, gid = os.geteuid(), os.getegid()
    return (
        f" by uid {uid}, which this server runs as: chown -R {uid}:{gid} {folder} (on the host "
        "for a bind mount), or start the container as the folder's owner: "
        "docker run --user $(id -u):$(id -g) ..."
    )


def check_root(config: Config) -> str | None:
    root = config.root_path
    if root.exists():
        return None if root.is_dir() else f"root {root} is not a directory"
    if config.readonly:
        return f"root {root} does not exist (a read-only share is never created)"
    problem = _creatable(root)
    return f"cannot create root {root}: {problem}" if problem else None


def check_state_dir(config: Config) -> str | None:
    if config.store_url == "memory://" and not config.state_dir:
        return None
    state = config.state_path
    if config.readonly and state.is_relative_to(config.root_path):
        return (
            f"state_dir {state} lies inside the read-only root: set state_dir (--state-dir) "
            "to a directory outside it"
        )
    if state.exists():
        return None if state.is_dir() else f"state_dir {state} is not a directory"
    if state.is_relative_to(config.root_path) and not config.root_path.exists():
        return None  # created with the root
    problem = _creatable(state)
    return f"cannot create state_dir {state}: {problem}" if problem else None


def check_htpasswd(config: Config) -> str | None:
    if not config.auth.htpasswd:
        return None
    try:
        read_htpasswd(Path(config.auth.htpasswd))
    except StartupError as exc:
        return str(exc)
    return None


def check_domain_controller(config: Config) -> str | None:
    """A ``domain_controller`` named in the config loads and accepts its config."""
    if not config.auth.domain_controller:
        return None
    try:
        load_controller(
            config.auth.domain_controller,
            config.auth.domain_controller_config,
            config.auth.htpasswd,
        )
    except StartupError as exc:
        return str(exc)
    return None


def check_host(config: Config) -> str | None:
    try:
        socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"host {config.host!r} does not resolve: {getattr(exc, 'strerror', None) or exc}"
    return None


def check_store(config: Config) -> str | None:
    url = config.store_url or "sqlite://"
    if url.startswith("sqlite://"):
        path = Path(url.removeprefix("sqlite://") or "/")
        if str(path) == "/":
            return None  # STATE_DIR/locks.sqlite: see check_state_dir
        if not path.parent.is_dir():
            return f"lock database directory {path.parent} does not exist"
        return None
    if url.startswith(("redis://", "rediss://", "redis+sentinel://", "rediss+sentinel://")):
        from davserver.lockstore import Role, open_stores

        try:
            open_stores(
                url,
                state_dir=config.state_path,
                role=Role.CHECK,
                volatile_ok=config.store.volatile_ok,
                min_replicas=config.store.redis_min_replicas,
                replica_timeout_ms=config.store.redis_replica_timeout_ms,
            ).close()
        except (StartupError, ConfigError) as exc:
            return str(exc)
    return None


def check_root_store(config: Config) -> str | None:
    """Servers already serving the root use another lock store (one root, one store)."""
    from davserver.lockstore import root_claim

    url, state_dir = config.store_url, config.state_path
    return root_claim.check(config.root_path, url, state_dir, readonly=config.readonly)


def check_tls(config: Config) -> str | None:
    if not (config.tls.cert and config.tls.key):
        return None
    return tls.load_problem(config.tls.cert, config.tls.key)


def check_appendable(path: str | None, what: str) -> str | None:
    if not path:
        return None
    file = Path(path)
    if file.exists():
        if file.is_dir():
            return f"{what}: {file} is a directory"
        return None if os.access(file, os.W_OK) else f"{what}: {file} is not writable"
    if not file.parent.is_dir():
        return f"{what}: cannot create {file}: {file.parent} is not a directory"
    if not os.access(file.parent, os.W_OK | os.X_OK):
        return f"{what}: cannot create {file}: {file.parent} is not writable"
    return None


CHECKS: tuple[Callable[[Config], str | None], ...] = (
    check_root,
    check_state_dir,
    check_htpasswd,
    check_domain_controller,
    check_host,
    check_store,
    check_root_store,
    check_tls,
    lambda config: check_appendable(config.logs.lock_events, "logs.lock_events"),
)


def problems(config: Config) -> list[str]:
    """Every reason ``serve`` would refuse to start (empty: it would start)."""
    found = []
    for check in CHECKS:
        problem = check(config)
        if problem:
            found.append(problem)
    return found


MAX_UNREADABLE = 20  # named one by one; beyond, counted


def unreadable_folders(share: Share) -> tuple[list[tuple[str, str]], int]:
    """Folders of the share this process cannot read (share path, why), the first
    :data:`MAX_UNREADABLE`, and how many in all; the state directory and hidden
    names are not looked into, links never followed."""
    found: list[tuple[str, str]] = []
    count = 0
    with DirStack(share.open_dir("/")) as stack:

        def refused(name: str, exc: OSError) -> None:
            nonlocal count
            count += 1
            if len(found) < MAX_UNREADABLE:
                found.append(("/" + "/".join([*stack.names, name]), exc.strerror or ""))

        descend(stack, lambda here: _folders(share, here), refused)
    return found, count


def _folders(share: Share, stack: DirStack) -> list[str]:
    here = "/" + "/".join(stack.names)
    with os.scandir(stack.fd) as scan:
        return [
            item.name
            for item in scan
            if item.is_dir(follow_symlinks=False)
            and not is_temp_name(item.name)
            and not share.is_state_entry(item)
            and not share.is_hidden(child_path(here, item.name))
        ]


def warnings(config: Config) -> list[str]:
    """What would not stop ``serve`` but deserves a look (``check-config``)."""
    return (
        admin_warnings(config)
        + folder_warnings(config)
        + replica_warnings(config)
        + ldap_warnings(config)
        + proxy_identity.warnings(config)
    )


def ldap_warnings(config: Config) -> list[str]:
    """A directory that cannot be reached, or a service account it refuses."""
    if config.ldap is None:
        return []
    from davserver.dav.logins.ldap import directory_warning

    warning = directory_warning(config.ldap)
    return [warning] if warning else []


def replica_warnings(config: Config) -> list[str]:
    """A Redis primary with fewer replicas than must confirm each lock change."""
    url = config.store_url or ""
    if not url.startswith(("redis://", "rediss://", "redis+sentinel://", "rediss+sentinel://")):
        return []
    try:
        from davserver.lockstore.redis_replication import replica_warning
    except ImportError:
        return []  # no redis package: the store check names it
    warning = replica_warning(url, config.store.redis_min_replicas)
    return [warning] if warning else []


def admin_warnings(config: Config) -> list[str]:
    """An admin listener other machines reach over plain HTTP: its logins are refused
    (or, with allow_insecure_auth, cross the network in clear)."""
    if not config.admin.enabled or config.admin.tls_cert or config.tls.cert:
        return []
    host = config.admin.listen.rpartition(":")[0]
    if is_loopback(host):
        return []
    return [
        f"warning: admin.listen {config.admin.listen} is reachable from other machines "
        "over plain HTTP: administrators' and metrics readers' credentials would cross "
        "the network in clear (refused unless auth.allow_insecure) -- set tls.cert/tls.key "
        "or admin.tls_cert/admin.tls_key, or listen on 127.0.0.1"
    ]


def folder_warnings(config: Config) -> list[str]:
    """Folders of the share the server's user cannot read."""
    root = config.root_path
    if not root.is_dir():
        return []
    try:
        share = Share(root, state_dir=config.state_path, readonly=True)
        found, count = unreadable_folders(share)
    except OSError as exc:
        return [f"warning: cannot read the root {root}: {exc.strerror}"]
    lines = [
        f"warning: cannot read {share.root}{path} ({why}): the server skips it at start; "
        "leftovers of interrupted operations in it, if any, are not cleaned up -- give the "
        "server's user access or ignore"
        for path, why in found
    ]
    if count > len(found):
        lines.append(f"warning: {count - len(found)} more folders cannot be read")
    if lines:
        lines.append(
            f"(checked as {getpass.getuser()}: run check-config as the user the server runs "
            "as to see what that user can read)"
        )
    return lines


def exposure_warning(config: Config) -> str | None:
    """A warning when anyone on the network may change the share (no login, writable)."""
    if (
        config.auth.htpasswd
        or config.ldap is not None
        or config.readonly
        or is_loopback(config.host)
    ):
        return None
    return (
        f"WARNING: anonymous read-write share on {config.host}: anyone who can reach port "
        f"{config.port} may read, change and delete every file. Set auth.htpasswd (with "
        "tls.cert/tls.key), readonly: true, or host: 127.0.0.1"
    )
