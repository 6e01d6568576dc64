"""A mapping of NumPy arrays stored as one uncompressed, byte-reproducible .npz file."""

import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset

# numpy.savez stamps each member with the current time; a fixed one keeps the bytes reproducible.
_FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class StreamedArray:
    """An array produced chunk by chunk (along axis 0) while it is written, never held whole.

    `chunks` is called once per use and yields arrays of shape (k, *shape[1:]) whose lengths add
    up to shape[0]; a chunk may be overwritten once the next is asked for, so each is copied out
    at once. `numpy.asarray` builds the whole array, for use outside a dataset.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: Callable[[], Iterator[np.ndarray]]

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        whole = np.empty(self.shape, self.dtype)
        start = 0
        for chunk in self._checked_chunks():
            whole[start : start + len(chunk)] = chunk
            start += len(chunk)
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def write_npy(self, stream: Any) -> None:
        """Write the .npy bytes numpy.save would write for the whole array."""
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }
        np.lib.format.write_array_header_1_0(stream, header)
        for chunk in self._checked_chunks():
            stream.write(np.ascontiguousarray(chunk).data)

    def _checked_chunks(self) -> Iterator[np.ndarray]:
        rows = 0
        for chunk in self.chunks():
            if chunk.shape[1:] != self.shape[1:] or chunk.dtype != self.dtype:
                raise ValueError(
                    f"Chunk {chunk.shape} {chunk.dtype} does not fit {self.shape} {self.dtype}"
                )
            rows += len(chunk)
            yield chunk
        if rows != self.shape[0]:
            raise ValueError(f"Chunks gave {rows} rows instead of {self.shape[0]}")


class NpzDataset(AbstractDataset[Mapping[str, Any], Mapping[str, np.ndarray]]):
    """Saves a mapping of arrays or `StreamedArray`s (no pickled objects); loads it lazily as a
    NumPy `NpzFile` mapping of arrays.

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

    def save(self, data: Mapping[str, Any]) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(self._filepath, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for key, array in data.items():
                member = zipfile.ZipInfo(f"{key}.npy", date_time=_FIXED_TIMESTAMP)
                with archive.open(member, "w", force_zip64=True) as stream:
                    if isinstance(array, StreamedArray):
                        array.write_npy(stream)
                    else:  # numpy writes in chunks too: no second copy of the array
                        np.lib.format.write_array(stream, np.asarray(array), allow_pickle=False)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
