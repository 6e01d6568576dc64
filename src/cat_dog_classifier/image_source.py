"""Read the files of an image source (a zip read in place, or a directory) in worker processes."""

import math
import multiprocessing
import os
import tempfile
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
from tqdm.auto import tqdm

Result = TypeVar("Result")
_CHUNKS_PER_WORKER = 8  # small enough chunks to balance the workers, large enough to batch IPC
_MAX_CHUNK = 256
_FILES_PER_AUTO_WORKER = 500  # starting a worker costs about as much as decoding this many


class ImageSource:
    """A zip archive or a directory, its files named by POSIX paths relative to it."""

    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.location = str(location)
        path = Path(location)
        self._root: Path | None = None
        self._zip: zipfile.ZipFile | None = None
        if path.is_dir():
            self._root = path
        elif path.is_file() and zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
        elif path.exists():
            raise ValueError(f"Image source {path} is neither a directory nor a .zip archive.")
        else:
            raise FileNotFoundError(f"Image source {path} does not exist.")

    def list_files(self) -> list[str]:
        """Every file in the source, sorted; folders themselves are not listed."""
        if self._zip is not None:
            names = {info.filename for info in self._zip.infolist() if not info.is_dir()}
        else:
            assert self._root is not None
            names = {
                path.relative_to(self._root).as_posix()
                for path in self._root.rglob("*")
                if path.is_file()
            }
        return sorted(names)

    def read(self, path: str) -> bytes:
        """The bytes of one file; a zip member is read in place, never extracted."""
        if self._zip is not None:
            return self._zip.read(path)
        assert self._root is not None
        return (self._root / path).read_bytes()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def map_files(
    location: str,
    paths: Sequence[str],
    task: Callable[[ImageSource, str], Result],
    *,
    workers: int | None = None,
    description: str = "images",
    pixels: tuple[tuple[int, ...], np.dtype] | None = None,
) -> Iterator[Result]:
    """Yield `task(source, path)` for every path, in order, computed by `workers` processes.

    `task` must be picklable (a module-level function or a partial of one). Each worker opens its
    own handle on the source. `workers=None` uses every CPU, fewer for a few hundred files;
    1 runs in this process. With `pixels=(shape, dtype)`, `task` returns `(result, array)` and
    the arrays come back through shared memory rather than a pipe (3x faster for 160x160 RGB).
    """
    if workers is None:
        workers = min(os.cpu_count() or 1, math.ceil(len(paths) / _FILES_PER_AUTO_WORKER))
    progress = tqdm(total=len(paths), desc=description, unit="img")
    if workers <= 1 or len(paths) <= 1:
        with ImageSource(location) as source, progress:
            for path in paths:
                yield task(source, path)
                progress.update()
        return

    size = max(1, min(_MAX_CHUNK, math.ceil(len(paths) / (workers * _CHUNKS_PER_WORKER))))
    chunks = [paths[start : start + size] for start in range(0, len(paths), size)]
    window = workers * 2  # chunks in flight: a slow consumer never piles up results in memory
    # forkserver, not fork: TensorFlow may already run threads in this process. The server imports
    # the main module (the kedro CLI) and the decoders once, instead of once per worker.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", "cat_dog_classifier.images"])
    with (
        ProcessPoolExecutor(
            max_workers=min(workers, len(chunks)),
            mp_context=context,
            initializer=_open_worker_source,
            initargs=(location,),
        ) as pool,
        tempfile.NamedTemporaryFile(prefix="cat_dog_pixels-") as slots_file,
        progress,
    ):
        slots = None
        if pixels is not None:
            shape, dtype = pixels[0], np.dtype(pixels[1])
            slots_file.truncate(window * size * math.prod(shape) * dtype.itemsize)
            slots = np.memmap(slots_file.name, dtype, "r+", shape=(window, size, *shape))

        def submit(chunk: Sequence[str], slot: int) -> Future:
            output = None if slots is None else (slots_file.name, slot, slots.shape, slots.dtype)
            return pool.submit(_run_chunk, task, chunk, output)

        waiting = iter(chunks)
        in_flight = deque(
            (submit(chunk, slot), slot) for slot, chunk in enumerate(islice(waiting, window))
        )
        try:
            while in_flight:
                future, slot = in_flight.popleft()
                results = future.result()
                if slots is not None:
                    results = list(zip(results, np.array(slots[slot, : len(results)]), strict=True))
                in_flight.extend((submit(chunk, slot), slot) for chunk in islice(waiting, 1))
                progress.update(len(results))
                yield from results
        finally:
            pool.shutdown(cancel_futures=True)


_worker_source: ImageSource | None = None


def _open_worker_source(location: str) -> None:
    global _worker_source  # noqa: PLW0603 - one handle per worker process, opened once
    cv2.setNumThreads(1)  # the pool already uses every core
    _worker_source = ImageSource(location)


def _run_chunk(
    task: Callable[[ImageSource, str], Any],
    paths: Sequence[str],
    output: tuple[str, int, tuple[int, ...], np.dtype] | None,
) -> list[Any]:
    assert _worker_source is not None
    results = [task(_worker_source, path) for path in paths]
    if output is None:
        return results
    slots_file, slot, shape, dtype = output
    slots = np.memmap(slots_file, dtype, "r+", shape=shape)
    for row, (_, array) in enumerate(results):
        slots[slot, row] = array
    del slots  # unmapped: the parent's mapping of the same file sees the pixels
    return [result for result, _ in results]
