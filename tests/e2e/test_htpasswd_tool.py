"""A password over 72 bytes hashed by Apache's own ``htpasswd -B`` logs in.

The fast tier writes Apache-style ``$2y$`` lines with the bcrypt library
(tests/integration/test_auth_long_passwords.py); this checks that the real
tool's output (which hashes the first 72 bytes) is read the same way.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.lock_helpers import Dav
from tests.integration.test_auth_long_passwords import LONG, OTHER_TAIL, credentials
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e


def test_a_long_password_hashed_by_apache_htpasswd_logs_in(
    tmp_path: Path, htpasswd_file: Path
) -> None:
    tool = require_tool("htpasswd")  # Debian apache2-utils
    line = subprocess.run(
        [tool, "-nbBC", "5", "carol", LONG], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert line.startswith("carol:$2y$05$")
    with htpasswd_file.open("a") as file:
        file.write(line + "\n")
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file), auth_max_failures=100)
    (dav.root / "f.txt").write_bytes(b"hello")
    response = dav.request("GET", "/f.txt", headers=credentials("carol", LONG))
    assert response.status == 200, response.text
    assert response.body == b"hello"
    # Like Apache: only the first 72 bytes count.
    assert dav.request("GET", "/f.txt", headers=credentials("carol", OTHER_TAIL)).status == 200
    assert dav.request("GET", "/f.txt", headers=credentials("carol", LONG[:-30])).status == 401
