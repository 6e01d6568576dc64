"""ImageSource and map_batches on real zips and folders."""

import threading
import time
import zipfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pytest

from cat_dog_classifier.image_source import ImageSource, map_batches

FILES = {"b/ü 1.jpg": b"one", "a/2.png": b"two!", "a/nested/3.JPG": b"three"}


def read_lengths(source: ImageSource, paths: Sequence[str], *, offset: int) -> list:
    return [(path, len(source.read(path)) + offset) for path in paths]


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


@pytest.mark.parametrize("workers", [1, 2, None])
def test_map_batches_keeps_the_order_of_the_paths(source: Path, workers: int | None) -> None:
    paths = sorted(FILES) * 50  # enough for several batches per thread
    with ImageSource(source) as images:
        batches = list(
            map_batches(images, paths, partial(read_lengths, offset=10), workers=workers)
        )
    assert len(batches) >= 4
    assert [result for batch in batches for result in batch] == [
        (path, len(FILES[path]) + 10) for path in paths
    ]


def test_map_batches_runs_the_batches_on_several_threads(source: Path) -> None:
    threads = set()

    def slow_read(images: ImageSource, paths: Sequence[str]) -> list:
        threads.add(threading.get_ident())
        time.sleep(0.01)  # long enough for the second thread to take the next batch
        return read_lengths(images, paths, offset=0)

    with ImageSource(source) as images:
        list(map_batches(images, sorted(FILES) * 20, slow_read, workers=2))
    assert len(threads) == 2
    assert threading.get_ident() not in threads


def test_map_batches_passes_a_failure_on_and_stops(source: Path) -> None:
    started = []

    def fail_on_second_batch(images: ImageSource, paths: Sequence[str]) -> list:
        started.append(paths)
        if len(started) == 2:
            raise OSError("disk gone")
        return read_lengths(images, paths, offset=0)

    paths = sorted(FILES) * 100
    with ImageSource(source) as images, pytest.raises(OSError, match="disk gone"):
        list(map_batches(images, paths, fail_on_second_batch, workers=1))
    assert len(started) <= 3  # the batches in flight, not the remaining ones


def test_missing_and_unreadable_sources(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageSource(tmp_path / "nothing.zip")
    (tmp_path / "notes.txt").write_text("not a zip")
    with pytest.raises(ValueError, match=r"neither a directory nor a \.zip"):
        ImageSource(tmp_path / "notes.txt")
