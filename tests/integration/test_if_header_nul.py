"""An If header's resource tag with a percent-encoded NUL names nothing here:
its list is false (412), not an unexpected error (500)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.lock_helpers import Dav


@pytest.mark.parametrize("tag", ["</a%00b>", "<http://localhost/dir%00/x>"])
def test_a_tag_with_nul_is_a_false_list(tmp_path: Path, tag: str) -> None:
    dav = Dav(tmp_path / "share")
    response = dav.request("PUT", "/y.txt", b"y", {"If": f'{tag} (["x"])'})
    assert response.status == 412, response.text
    assert "the If header evaluated to false" in response.text
    assert not (dav.root / "y.txt").exists()


def test_a_true_list_after_it_still_holds(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share")
    response = dav.request("PUT", "/y.txt", b"y", {"If": '</a%00b> (["x"]) </y.txt> (Not ["x"])'})
    assert response.status == 201, response.text
    assert (dav.root / "y.txt").read_bytes() == b"y"
