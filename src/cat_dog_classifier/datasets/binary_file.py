"""A file's exact bytes: what DVC hashes, so what identifies a model in DVC, MLflow and the page."""

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset


class BinaryFileDataset(AbstractDataset[bytes, bytes]):
    """Loads and saves one local file as `bytes`, unchanged.

    Example catalog entry (transcoding: the same file as Keras reads it, and as bytes)::

        "{variant}.model@bytes":
          type: cat_dog_classifier.datasets.BinaryFileDataset
          filepath: data/06_models/{variant}.keras
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> bytes:
        return self._filepath.read_bytes()

    def save(self, data: bytes) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        self._filepath.write_bytes(data)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
