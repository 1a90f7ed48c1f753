r"""A private OpenLDAP slapd on an ephemeral 127.0.0.1 port, stopped by its PID.

A slapd.conf of its own (``-f``), an mdb database in a temporary directory, and a
small directory loaded offline with slapadd before the start::

    dc=example,dc=org
      ou=people   uid=alice (alice-pw), uid=bob (bob-pw), uid=carol (carol-pw),
                  uid=smith\, j (x)* (smith-pw)
      ou=groups   cn=davusers (groupOfNames: alice, carol), cn=davadmins (carol),
                  cn=posixdav (posixGroup memberUid: alice)
      ou=services cn=dav (the service account, dav-pw)

Plaintext ``userPassword`` values: slapd compares them on a simple bind.  With
``tls`` the server also listens for StartTLS on the same port and for ldaps on
a second one, with a certificate signed by the test CA of :mod:`tests.support.tls`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.redis import free_port
from tests.support.tls import TlsFiles
from tests.support.tools import require_tool

BASE = "dc=example,dc=org"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
SERVICE_DN = f"cn=dav,ou=services,{BASE}"
SERVICE_PASSWORD = "dav-pw"
DAVUSERS = f"cn=davusers,{GROUPS}"
DAVADMINS = f"cn=davadmins,{GROUPS}"
POSIXDAV = f"cn=posixdav,{GROUPS}"
# A name with characters special in DNs (",") and in filters ("(", ")", "*"):
# it logs in only if both are escaped.
ODD_NAME = "smith, j (x)*"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", ODD_NAME: "smith-pw"}

OUS = ("people", "groups", "services")
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")

# Anyone may bind (auth); bound users read everything but passwords.
CONFIG = """\
{includes}
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
{tls}
database mdb
suffix "{base}"
rootdn "cn=admin,{base}"
rootpw admin-pw
directory {dir}/data
maxsize 10485760
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
"""


def _person(uid: str) -> str:
    return (
        f"dn: uid={uid.replace(',', chr(92) + ',')},{PEOPLE}\n"
        f"objectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\n"
        f"sn: {uid}\nuserPassword: {PASSWORDS[uid]}\n\n"
    )


def directory_ldif() -> str:
    organization = "objectClass: dcObject\nobjectClass: organization\ndc: example\no: Example"
    units = [f"dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}\n\n" for ou in OUS]
    people = [_person(uid) for uid in PASSWORDS]
    groups = [
        f"dn: {DAVUSERS}\nobjectClass: groupOfNames\ncn: davusers\n"
        f"member: uid=alice,{PEOPLE}\nmember: uid=carol,{PEOPLE}\n\n",
        f"dn: {DAVADMINS}\nobjectClass: groupOfNames\ncn: davadmins\n"
        f"member: uid=carol,{PEOPLE}\n\n",
        f"dn: {POSIXDAV}\nobjectClass: posixGroup\ncn: posixdav\ngidNumber: 5000\n"
        "memberUid: alice\n\n",
    ]
    service = (
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\n"
        f"objectClass: simpleSecurityObject\ncn: dav\nuserPassword: {SERVICE_PASSWORD}\n\n"
    )
    return "".join([f"dn: {BASE}\n{organization}\n\n", *units, *people, service, *groups])


def _state(stat: Path) -> str:
    """A thread's state letter from /proc (empty once the thread is gone)."""
    try:
        return stat.read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return ""


class Slapd:
    """``start()`` loads the directory and serves it; ``stop()`` ends it by PID."""

    def __init__(self, workdir: Path, tls: TlsFiles | None = None):
        self.binary = require_tool("slapd")
        self.slapadd = require_tool("slapadd")
        self.workdir = workdir
        self.tls = tls
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://localhost:{self.tls_port}"

    def _write_config(self) -> Path:
        includes = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
        tls = ""
        if self.tls is not None:
            tls = (
                f"TLSCACertificateFile {self.tls.ca}\nTLSCertificateFile {self.tls.cert}\n"
                f"TLSCertificateKeyFile {self.tls.key}\n"
            )
        conf = self.workdir / "slapd.conf"
        conf.write_text(CONFIG.format(includes=includes, dir=self.workdir, base=BASE, tls=tls))
        return conf

    def _load(self, conf: Path) -> None:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        ldif = self.workdir / "directory.ldif"
        ldif.write_text(directory_ldif())
        subprocess.run(
            [self.slapadd, "-f", str(conf), "-l", str(ldif)],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self, timeout: float = 15.0) -> Slapd:
        if self.proc is None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            conf = self._write_config()
            self._load(conf)
        else:
            conf = self.workdir / "slapd.conf"
        urls = self.url + (f" ldaps://127.0.0.1:{self.tls_port}" if self.tls else "")
        # -d 0: stay in the foreground (the PID is ours to stop), log nothing.
        self.proc = subprocess.Popen(
            [self.binary, "-f", str(conf), "-h", urls, "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"slapd on port {self.port} did not start")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def pause(self, timeout: float = 10.0) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers.  Returns
        once every thread has stopped (a signal arrives asynchronously: a thread
        still running could answer one more request)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        tasks = Path(f"/proc/{self.proc.pid}/task")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [_state(task / "stat") for task in tasks.iterdir()]
            if all(state in ("T", "t", "") for state in states):
                return
            time.sleep(0.01)
        raise RuntimeError(f"slapd {self.proc.pid} did not stop")

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)  # a paused slapd cannot act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> Slapd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.proc = None
