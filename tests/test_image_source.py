"""ImageSource and map_files on real zips and folders."""

import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from cat_dog_classifier.image_source import ImageSource, map_files

FILES = {"b/ü 1.jpg": b"one", "a/2.png": b"two!", "a/nested/3.JPG": b"three"}


def read_length(source: ImageSource, path: str, *, offset: int) -> tuple[str, int]:
    return path, len(source.read(path)) + offset


@pytest.fixture(params=["folder", "zip"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    folder = tmp_path / "folder"
    for name, data in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    if request.param == "folder":
        return folder
    archive = tmp_path / "source.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.mkdir("empty/")  # folder entries are not files
        for name, data in FILES.items():
            zipped.writestr(name, data)
    return archive


def test_lists_and_reads_every_file(source: Path) -> None:
    with ImageSource(source) as images:
        assert images.list_files() == sorted(FILES)
        assert {path: images.read(path) for path in images.list_files()} == FILES


@pytest.mark.parametrize("workers", [1, 2])
def test_map_files_keeps_the_order_of_the_paths(source: Path, workers: int) -> None:
    paths = sorted(FILES) * 50  # enough for several chunks per worker
    task = partial(read_length, offset=10)
    results = list(map_files(str(source), paths, task, workers=workers))
    assert results == [(path, len(FILES[path]) + 10) for path in paths]


def test_missing_and_unreadable_sources(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageSource(tmp_path / "nothing.zip")
    (tmp_path / "notes.txt").write_text("not a zip")
    with pytest.raises(ValueError, match=r"neither a directory nor a \.zip"):
        ImageSource(tmp_path / "notes.txt")


def length_and_pixels(source: ImageSource, path: str) -> tuple[int, np.ndarray]:
    size = len(source.read(path))
    return size, np.full((4, 5, 3), size, np.uint8)


@pytest.mark.parametrize("workers", [1, 2])
def test_map_files_returns_pixels_through_shared_memory(source: Path, workers: int) -> None:
    paths = sorted(FILES) * 200  # more chunks than slots, so slots are reused
    spec = ((4, 5, 3), np.uint8)
    results = list(map_files(str(source), paths, length_and_pixels, workers=workers, pixels=spec))
    assert [size for size, _ in results] == [len(FILES[path]) for path in paths]
    for (_, pixels), path in zip(results, paths, strict=True):
        assert pixels.shape == (4, 5, 3)
        assert (pixels == len(FILES[path])).all(), path  # each result kept its own pixels
