"""Preprocessing: a seeded stratified split, then uint8 pixel arrays per split for every set."""

import math
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from cat_dog_classifier.datasets import StreamedArray
from cat_dog_classifier.image_source import ImageSource, map_batches
from cat_dog_classifier.images import CHANNELS, ImageSpec, prepare_files
from cat_dog_classifier.labels import LABEL_CODES, LABELS, NEITHER

SPLITS = ("train", "validation", "test")
# Sets that fit in this much memory together are kept while another set streams to disk, so each
# photo is decoded once for all of them; any other set is decoded again, in its own pass.
MAX_KEPT_BYTES = 512 * 2**20


def split_images(
    image_manifest: pd.DataFrame, split: dict[str, Any], neither_split: dict[str, float]
) -> pd.DataFrame:
    """Add a `split` column: train/validation/test per label in the given fractions, '' if rejected;
    the photos of other things (`neither`) in the fractions of `neither_split`.

    Each label's usable images, in path order, are shuffled by one generator seeded with
    `split["seed"]`, so the same manifest and seed always give the same split.
    """
    fractions_per_label = {
        label: _fractions(neither_split if label == NEITHER else split) for label in LABEL_CODES
    }
    manifest = image_manifest.sort_values("path", ignore_index=True, kind="stable")
    manifest["split"] = ""
    generator = np.random.default_rng(int(split["seed"]))
    usable = manifest["status"] == "ok"
    for label in sorted(manifest.loc[usable, "label"].unique()):
        fractions = fractions_per_label[label]
        rows = manifest.index[usable & (manifest["label"] == label)]
        shuffled = rows[generator.permutation(len(rows))]
        n_test = round(len(rows) * fractions["test"])
        n_validation = round(len(rows) * fractions["validation"])
        manifest.loc[shuffled[:n_test], "split"] = "test"
        manifest.loc[shuffled[n_test : n_test + n_validation], "split"] = "validation"
        manifest.loc[shuffled[n_test + n_validation :], "split"] = "train"
    return manifest


def _fractions(split: dict[str, Any]) -> dict[str, float]:
    fractions = {name: float(split[name]) for name in SPLITS}
    if not np.isclose(sum(fractions.values()), 1.0) or min(fractions.values()) < 0:
        raise ValueError(f"Split fractions must be non-negative and sum to 1, got {fractions}")
    return fractions


def preprocess_images(
    image_splits: pd.DataFrame,
    jpeg_dct_scaling: bool,
    workers: int | None,
    **images: dict[str, Any],
) -> dict[str, dict[str, np.ndarray | StreamedArray]]:
    """One set of `{split}_images/_labels/_paths` arrays per keyword, named by it and made with
    its `image` parameters (height, width, color_mode, interpolation), by `workers` threads, and
    the photos of other things as `{split}_neither_images/_paths` (empty without any).

    Images are (N, height, width, 1 or 3) uint8 (RGB order), labels uint8 (labels.LABEL_CODES),
    paths the manifest `path`; rows are in path order within each split. The images are streamed:
    they are decoded while the dataset writes them, so a large set (2.8 GB for rgb192) is never
    held whole. Each photo is decoded once for every set when the sets are saved largest first.
    """
    specs = {name: image_spec(params, jpeg_dct_scaling) for name, params in images.items()}
    usable = image_splits[image_splits["status"] == "ok"]
    pets = usable[usable["label"].isin(LABELS)]
    others = usable[usable["label"] == NEITHER]
    sizes = {name: len(usable) * math.prod(spec.shape) for name, spec in specs.items()}
    keepable = sets_to_keep(sizes)

    sets: dict[str, dict[str, np.ndarray | StreamedArray]] = {name: {} for name in specs}
    for prefix, rows in (("", pets), ("neither_", others)):
        # Open until the arrays are garbage-collected: they read from it while they are written.
        source = _one_source(rows, required=not prefix)
        for split in SPLITS:
            in_split = rows[rows["split"] == split]
            files = list(zip(in_split["path"], in_split["sha256"], strict=True))
            description = f"{split} {NEITHER}" if prefix else split
            pixels = SplitPixels(source, files, specs, keepable, workers=workers, split=description)
            for name, spec in specs.items():
                sets[name][f"{split}_{prefix}images"] = StreamedArray(
                    shape=(len(in_split), *spec.shape),
                    dtype=np.dtype(np.uint8),
                    chunks=partial(pixels.chunks, name),
                )
                if not prefix:
                    labels = in_split["label"].map(LABEL_CODES).to_numpy(np.uint8)
                    sets[name][f"{split}_labels"] = labels
                sets[name][f"{split}_{prefix}paths"] = in_split["path"].to_numpy(dtype=str)
    return sets


def _one_source(rows: pd.DataFrame, required: bool) -> ImageSource | None:
    """The one image source the rows come from (None for no rows, unless `required`)."""
    locations = rows["source"].unique()
    if len(locations) > 1 or (required and len(locations) != 1):
        raise ValueError(f"Expected one image source in the manifest, found {list(locations)}")
    return ImageSource(locations[0]) if len(locations) else None


def image_spec(image: dict[str, Any], dct_scaling: bool) -> ImageSpec:
    """A set's `image` parameters, checked."""
    if image["color_mode"] not in CHANNELS:
        raise ValueError(
            f"color_mode must be one of {sorted(CHANNELS)}, got {image['color_mode']!r}"
        )
    return ImageSpec(
        height=int(image["height"]),
        width=int(image["width"]),
        color_mode=image["color_mode"],
        interpolation=image["interpolation"],
        dct_scaling=bool(dct_scaling),
    )


def sets_to_keep(sizes: dict[str, int]) -> frozenset[str]:
    """The smallest sets that fit in MAX_KEPT_BYTES together, never the largest one."""
    kept, total = set(), 0
    for name in sorted(sizes, key=sizes.get)[:-1]:
        if total + sizes[name] <= MAX_KEPT_BYTES:
            kept.add(name)
            total += sizes[name]
    return frozenset(kept)


class SplitPixels:
    """The pixels of one split's files for every set, computed in as few passes as memory allows.

    The pass that streams a set also makes the keepable sets not made yet, and keeps them until
    they are asked for. A file whose sha256 is no longer the one ingestion recorded stops it.
    """

    def __init__(
        self,
        source: ImageSource | None,
        files: list[tuple[str, str]],
        specs: dict[str, ImageSpec],
        keepable: frozenset[str],
        *,
        workers: int | None,
        split: str,
    ) -> None:
        self._source = source
        self._files = files
        self._specs = specs
        self._keepable = keepable
        self._workers = workers
        self._split = split
        self._kept: dict[str, list[np.ndarray]] = {}
        self._delivered: set[str] = set()

    def chunks(self, name: str) -> Iterator[np.ndarray]:
        """Yield the set's images of this split in batches, in order; a batch is only valid
        until the next one is asked for (its memory is reused)."""
        if name in self._kept:
            yield from self._kept.pop(name)
            self._delivered.add(name)
            return
        names = [name, *sorted(self._keepable - {name} - self._kept.keys() - self._delivered)]
        specs = [self._specs[each] for each in names]
        kept: dict[str, list[np.ndarray]] = {other: [] for other in names[1:]}
        # Batches of the streamed set come back here once written: reusing their memory spares
        # the page faults of fresh arrays (measured here: a third of the resize, per photo).
        free: list[np.ndarray] = []

        def prepare(source: ImageSource, files: Sequence[tuple[str, str]]) -> tuple:
            try:
                buffer = free.pop()  # the threads share the list: pop, not test then pop
            except IndexError:
                buffer = np.empty((len(files), *specs[0].shape), np.uint8)
            out = [buffer[: len(files)]]
            out += [np.empty((len(files), *spec.shape), np.uint8) for spec in specs[1:]]
            prepare_files(source, files, specs, out)
            return buffer, out

        batches = map_batches(
            self._source,
            self._files,
            prepare,
            workers=self._workers,
            description=f"{self._split}: {', '.join(names)}",
        )
        for buffer, pixels in batches:
            for other, batch in zip(names[1:], pixels[1:], strict=True):
                kept[other].append(batch)
            yield pixels[0]
            free.append(buffer)
        self._kept.update(kept)
        self._delivered.add(name)
