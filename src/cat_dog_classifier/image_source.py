"""Read the files of an image source (a zip read in place, or a directory) with threads."""

import math
import os
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import TypeVar

from tqdm.auto import tqdm

Item = TypeVar("Item")
Result = TypeVar("Result")
_MAX_BATCH = 64  # files per task: few enough tasks to keep the overhead low, enough to balance


class ImageSource:
    """A zip archive or a directory, its files named by POSIX paths relative to it.

    `read` may be called from several threads at once (zipfile serialises its seeks).
    """

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


def map_batches(
    source: ImageSource,
    items: Sequence[Item],
    task: Callable[[ImageSource, Sequence[Item]], Result],
    *,
    workers: int | None = None,
    description: str = "images",
) -> Iterator[Result]:
    """Yield `task(source, batch)` for consecutive batches of `items` (paths, or tuples that
    name them), in order, computed by `workers` threads (`None`: one per CPU) that share the open
    source.

    Threads, not processes: the work per file (reading, hashing, JPEG decoding, OpenCV) runs in C
    code that releases the GIL, so threads keep every core busy without starting processes or
    copying pixels between them. At most two batches per thread are in flight, so a slow consumer
    (writing to disk) holds the workers back instead of piling results up in memory.
    """
    workers = max(1, workers or len(os.sched_getaffinity(0)))
    size = max(1, min(_MAX_BATCH, math.ceil(len(items) / (workers * 4))))
    batches = (items[start : start + size] for start in range(0, len(items), size))
    with (
        ThreadPoolExecutor(workers, thread_name_prefix="images") as pool,
        tqdm(total=len(items), desc=description, unit="img") as progress,
    ):

        def submit(batch: Sequence[Item]) -> tuple[Future[Result], int]:
            return pool.submit(task, source, batch), len(batch)

        in_flight = deque(submit(batch) for batch in islice(batches, 2 * workers))
        try:
            while in_flight:
                future, count = in_flight.popleft()
                result = future.result()
                in_flight.extend(submit(batch) for batch in islice(batches, 1))
                progress.update(count)
                yield result
        finally:  # the consumer stopped early or failed: do not start the remaining batches
            for future, _ in in_flight:
                future.cancel()
