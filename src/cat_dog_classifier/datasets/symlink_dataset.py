"""A path kept as a symbolic link: the data stay where they are, the catalog names them."""

import os
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class SymlinkDataset(AbstractDataset[str, str]):
    """Saves a path (a file or a folder) as a symbolic link at `filepath` to it; loads `filepath`,
    relative to the working directory (Kedro's: the project root) so that what records it stays the
    same wherever the project is.

    Nothing is copied, yet whatever reads `filepath` (DVC hashing a dependency, the image source)
    reads what it points to. A relative target is stored relative to the link, so the project and
    its neighbours can move together; an absolute one stays absolute.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _save(self, data: str) -> None:
        target = Path(data)
        if not target.exists():
            raise DatasetError(f"Cannot link {self._filepath} to {target}: it does not exist")
        if not target.is_absolute():
            target = Path(os.path.relpath(target.absolute(), self._filepath.parent.absolute()))
        if self._filepath.is_symlink() and Path(os.readlink(self._filepath)) == target:
            return  # unchanged: the link keeps its timestamp
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        staged = self._filepath.with_name(f".{self._filepath.name}.new")
        staged.unlink(missing_ok=True)
        staged.symlink_to(target)
        staged.replace(self._filepath)  # atomic: the link never goes missing

    def _load(self) -> str:
        if not self._filepath.exists():
            raise DatasetError(f"{self._filepath} does not exist or points to nothing")
        return os.path.relpath(self._filepath)

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
