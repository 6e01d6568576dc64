"""A mapping of NumPy arrays stored as one uncompressed, byte-reproducible .npz file."""

import mmap
import struct
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


def release_pages(array: np.ndarray) -> None:
    """Let go of the pages this process has read of the file `array` maps (or a view of one maps);
    nothing for an array in memory.

    A memory map's pages, once read, stay in the process's resident memory (RSS) until unmapped:
    reading a whole set batch by batch would leave it all there, so RSS would grow with the
    dataset. Released, they stay in the kernel's page cache (free to reuse, cheap to read again)
    and leave RSS. The array stays valid: a page read again is mapped again.
    """
    base = array
    while isinstance(base, np.ndarray):  # a view's base chain ends at the map
        base = base.base
    if isinstance(base, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):  # not on Windows
        base.madvise(mmap.MADV_DONTNEED)


class MappedNpz(Mapping[str, np.ndarray]):
    """The arrays of an uncompressed .npz, memory-mapped: an array costs no memory until its pages
    are read, and reading a slice reads only that slice (a 224x224 RGB training set is 3 GB). Who
    reads one whole, in parts, calls `release_pages` as it goes."""

    _LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # a zip member's local header, before its name

    def __init__(self, path: Path) -> None:
        self._path = path
        with zipfile.ZipFile(path) as archive, path.open("rb") as file:
            self._offsets = {}
            for info in archive.infolist():
                if info.compress_type != zipfile.ZIP_STORED:
                    raise ValueError(f"{path} member {info.filename} is compressed: cannot map it")
                file.seek(info.header_offset)
                fields = self._LOCAL_HEADER.unpack(file.read(self._LOCAL_HEADER.size))
                name_length, extra_length = fields[-2:]
                self._offsets[info.filename.removesuffix(".npy")] = (
                    info.header_offset + self._LOCAL_HEADER.size + name_length + extra_length
                )

    def __getitem__(self, key: str) -> np.ndarray:
        with self._path.open("rb") as file:
            file.seek(self._offsets[key])
            version = np.lib.format.read_magic(file)
            shape, fortran_order, dtype = np.lib.format._read_array_header(file, version)
            if dtype.hasobject:
                raise ValueError(f"{self._path} member {key} holds Python objects: not loaded")
            if not shape or 0 in shape:  # a scalar, or no bytes to map
                return np.fromfile(file, dtype, count=int(np.prod(shape))).reshape(shape)
            offset = file.tell()
        order = "F" if fortran_order else "C"
        return np.memmap(self._path, dtype, mode="r", offset=offset, shape=shape, order=order)

    def __iter__(self) -> Iterator[str]:
        return iter(self._offsets)

    def __len__(self) -> int:
        return len(self._offsets)


class NpzDataset(AbstractDataset[Mapping[str, Any], Mapping[str, np.ndarray]]):
    """Saves a mapping of arrays or `StreamedArray`s (no pickled objects) as an uncompressed .npz;
    loads it as a mapping of memory-mapped, read-only arrays (`MappedNpz`): nothing is copied.

    Example catalog entry::

        gray100.model_input:
          type: cat_dog_classifier.datasets.NpzDataset
          filepath: data/05_model_input/gray100.npz
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> Mapping[str, np.ndarray]:
        return MappedNpz(self._filepath)

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
