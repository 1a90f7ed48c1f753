"""Filesystem provider: WsgiDAV's, with the state directory never listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wsgidav.fs_dav_provider import FilesystemProvider, FolderResource


class DavFolderResource(FolderResource):  # type: ignore[misc]
    def get_member_names(self) -> list[str]:
        names: list[str] = super().get_member_names()
        hidden = self.provider.hidden_file_path
        if hidden is None:
            return names
        return [n for n in names if str(Path(self._file_path) / n).casefold() != hidden]


class DavFilesystemProvider(FilesystemProvider):  # type: ignore[misc]
    def __init__(self, root: str, *, readonly: bool, state_dir: Path):
        super().__init__(root, readonly=readonly, fs_opts={"follow_symlinks": False})
        self.hidden_file_path = str(state_dir).casefold()

    def get_resource_inst(self, path: str, environ: dict[str, Any]) -> Any:
        res = super().get_resource_inst(path, environ)
        if isinstance(res, FolderResource) and not isinstance(res, DavFolderResource):
            res = DavFolderResource(path, environ, res._file_path)
        return res
