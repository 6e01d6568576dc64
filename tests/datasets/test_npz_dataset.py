"""NpzDataset: a mapping of arrays round-trips, byte-identical from one save to the next."""

import time
from pathlib import Path

import numpy as np
import pytest
from kedro.io import DatasetError

from cat_dog_classifier.datasets import NpzDataset, StreamedArray
from cat_dog_classifier.datasets.npz_dataset import release_pages
from tests.conftest import resident_file_bytes


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    images = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    return {
        "train_images": images[:4],
        "train_labels": np.array([0, 1, 1, 0], np.uint8),
        "train_paths": np.array(["Cat/1.jpg", "Dog/2.jpg", "Dog/3.jpg", "Cat/ü.jpg"]),
        "test_images": images[4:],
    }


def test_round_trip(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    dataset = NpzDataset(filepath=str(tmp_path / "nested" / "set.npz"))
    assert not dataset.exists()
    dataset.save(arrays)
    loaded = dataset.load()
    assert list(loaded.keys()) == list(arrays)
    for key, array in arrays.items():
        np.testing.assert_array_equal(loaded[key], array)
        assert loaded[key].dtype == array.dtype


def test_saves_are_byte_identical(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    first, second = tmp_path / "first.npz", tmp_path / "second.npz"
    NpzDataset(filepath=str(first)).save(arrays)
    time.sleep(2.1)  # the zip timestamps have a 2 s resolution
    NpzDataset(filepath=str(second)).save(arrays)
    assert first.read_bytes() == second.read_bytes()


def test_objects_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="Object arrays cannot be saved"):
        NpzDataset(filepath=str(tmp_path / "set.npz")).save({"x": np.array([{}], dtype=object)})


def streamed(array: np.ndarray, chunk: int) -> StreamedArray:
    return StreamedArray(
        shape=array.shape,
        dtype=array.dtype,
        chunks=lambda: (array[start : start + chunk] for start in range(0, len(array), chunk)),
    )


def test_a_streamed_array_is_written_as_the_whole_array_would_be(
    tmp_path: Path, arrays: dict[str, np.ndarray]
) -> None:
    whole, chunked = tmp_path / "whole.npz", tmp_path / "chunked.npz"
    NpzDataset(filepath=str(whole)).save(arrays)
    chunked_arrays = arrays | {"train_images": streamed(arrays["train_images"], 3)}
    NpzDataset(filepath=str(chunked)).save(chunked_arrays)
    assert chunked.read_bytes() == whole.read_bytes()
    np.testing.assert_array_equal(
        np.asarray(chunked_arrays["train_images"]), arrays["train_images"]
    )


def test_a_streamed_array_must_fill_its_shape(arrays: dict[str, np.ndarray]) -> None:
    images = arrays["train_images"]
    short = StreamedArray(shape=images.shape, dtype=images.dtype, chunks=lambda: iter([images[:2]]))
    with pytest.raises(ValueError, match="gave 2 rows instead of 4"):
        np.asarray(short)
    wrong = StreamedArray(
        shape=images.shape, dtype=images.dtype, chunks=lambda: iter([images[..., 0]])
    )
    with pytest.raises(ValueError, match="does not fit"):
        np.asarray(wrong)


def test_arrays_load_memory_mapped_without_a_copy(tmp_path: Path, arrays: dict) -> None:
    path = tmp_path / "set.npz"
    NpzDataset(filepath=str(path)).save({**arrays, "count": np.array(4), "none": np.zeros((0, 3))})
    loaded = NpzDataset(filepath=str(path)).load()
    images = loaded["train_images"]
    assert isinstance(images, np.memmap) and Path(images.filename) == path.resolve()
    assert not images.flags.writeable
    np.testing.assert_array_equal(images[[3, 0]], arrays["train_images"][[3, 0]])
    assert loaded["count"] == 4 and loaded["none"].shape == (0, 3)
    assert len(loaded) == len(arrays) + 2


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's RssFile")
def test_released_pages_leave_resident_memory_and_the_array_stays_valid(tmp_path: Path) -> None:
    whole = np.random.default_rng(1).integers(0, 256, (64, 2**20), dtype=np.uint8)  # 64 MiB
    path = tmp_path / "set.npz"
    NpzDataset(filepath=str(path)).save({"images": whole})
    images = NpzDataset(filepath=str(path)).load()["images"]
    before = resident_file_bytes()
    view = images[8:]
    assert int(view.sum(dtype=np.int64)) == int(whole[8:].sum(dtype=np.int64))  # read every page
    assert resident_file_bytes() - before > 48 * 2**20

    release_pages(view)  # a view releases its whole map
    assert resident_file_bytes() - before < 4 * 2**20
    np.testing.assert_array_equal(images[[0, 63]], whole[[0, 63]])  # still readable
    release_pages(whole)  # an array in memory: nothing to release, nothing changed
    assert whole.shape == (64, 2**20)


def test_a_compressed_npz_is_refused(tmp_path: Path, arrays: dict) -> None:
    path = tmp_path / "compressed.npz"
    np.savez_compressed(path, **arrays)
    with pytest.raises(DatasetError, match="is compressed: cannot map it"):
        NpzDataset(filepath=str(path)).load()
