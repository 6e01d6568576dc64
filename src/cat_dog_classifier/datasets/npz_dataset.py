"""A mapping of NumPy arrays stored as one uncompressed, byte-reproducible .npz file."""

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset

# numpy.savez stamps each member with the current time; a fixed one keeps the bytes reproducible.
_FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


class NpzDataset(AbstractDataset[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]):
    """Saves a mapping of arrays (no pickled objects); loads it lazily as a NumPy `NpzFile`.

    Example catalog entry::

        gray100.model_input:
          type: cat_dog_classifier.datasets.NpzDataset
          filepath: data/05_model_input/gray100.npz
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> Mapping[str, np.ndarray]:
        return np.load(self._filepath, allow_pickle=False)

    def save(self, data: Mapping[str, np.ndarray]) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(self._filepath, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for key, array in data.items():
                member = zipfile.ZipInfo(f"{key}.npy", date_time=_FIXED_TIMESTAMP)
                # Streams the array in chunks, so saving holds no second copy of it.
                with archive.open(member, "w", force_zip64=True) as stream:
                    np.lib.format.write_array(stream, np.asarray(array), allow_pickle=False)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
