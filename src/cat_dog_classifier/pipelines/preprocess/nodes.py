"""Preprocessing: a seeded stratified split, then uint8 pixel arrays per split."""

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from cat_dog_classifier.datasets import StreamedArray
from cat_dog_classifier.image_source import ImageSource, map_files
from cat_dog_classifier.images import prepare_file

SPLITS = ("train", "validation", "test")
LABEL_CODES = {"cat": 0, "dog": 1}
CHANNELS = {"grayscale": 1, "rgb": 3}


def split_images(image_manifest: pd.DataFrame, split: dict[str, Any]) -> pd.DataFrame:
    """Add a `split` column: train/validation/test per label in the given fractions, '' if rejected.

    Each label's usable images, in path order, are shuffled by one generator seeded with
    `split["seed"]`, so the same manifest and seed always give the same split.
    """
    fractions = {name: float(split[name]) for name in SPLITS}
    if not np.isclose(sum(fractions.values()), 1.0) or min(fractions.values()) < 0:
        raise ValueError(f"Split fractions must be non-negative and sum to 1, got {fractions}")
    manifest = image_manifest.sort_values("path", ignore_index=True, kind="stable")
    manifest["split"] = ""
    generator = np.random.default_rng(int(split["seed"]))
    usable = manifest["status"] == "ok"
    for label in sorted(manifest.loc[usable, "label"].unique()):
        rows = manifest.index[usable & (manifest["label"] == label)]
        shuffled = rows[generator.permutation(len(rows))]
        n_test = round(len(rows) * fractions["test"])
        n_validation = round(len(rows) * fractions["validation"])
        manifest.loc[shuffled[:n_test], "split"] = "test"
        manifest.loc[shuffled[n_test : n_test + n_validation], "split"] = "validation"
        manifest.loc[shuffled[n_test + n_validation :], "split"] = "train"
    return manifest


def preprocess_images(
    image_splits: pd.DataFrame, image: dict[str, Any], workers: int | None
) -> dict[str, np.ndarray | StreamedArray]:
    """Decode, convert and resize every usable image into `{split}_images/_labels/_paths` arrays.

    Images are (N, height, width, 1 or 3) uint8 (RGB order), labels uint8 (0 cat, 1 dog), paths
    the manifest `path`; rows are in path order within each split. The images are streamed: they
    are decoded while the dataset writes them, so a set (1.9 GB for rgb160) is never held whole.
    """
    height, width = int(image["height"]), int(image["width"])
    color_mode = image["color_mode"]
    if color_mode not in CHANNELS:
        raise ValueError(f"color_mode must be one of {sorted(CHANNELS)}, got {color_mode!r}")
    usable = image_splits[image_splits["status"] == "ok"]
    locations = usable["source"].unique()
    if len(locations) != 1:
        raise ValueError(f"Expected one image source in the manifest, found {list(locations)}")
    prepare = partial(
        prepare_file,
        height=height,
        width=width,
        color_mode=color_mode,
        interpolation=image["interpolation"],
    )

    arrays: dict[str, np.ndarray | StreamedArray] = {}
    for name in SPLITS:
        rows = usable[usable["split"] == name]
        arrays[f"{name}_images"] = StreamedArray(
            shape=(len(rows), height, width, CHANNELS[color_mode]),
            dtype=np.dtype(np.uint8),
            chunks=partial(
                prepared_images,
                str(locations[0]),
                list(zip(rows["path"], rows["sha256"], strict=True)),
                prepare,
                shape=(height, width, CHANNELS[color_mode]),
                workers=workers,
                description=f"{name} {width}x{height} {color_mode}",
            ),
        )
        arrays[f"{name}_labels"] = rows["label"].map(LABEL_CODES).to_numpy(dtype=np.uint8)
        arrays[f"{name}_paths"] = rows["path"].to_numpy(dtype=str)
    return arrays


def prepared_images(
    location: str,
    files: list[tuple[str, str]],
    prepare: Callable[[ImageSource, str], tuple[str, np.ndarray]],
    *,
    shape: tuple[int, int, int],
    workers: int | None,
    description: str,
) -> Iterator[np.ndarray]:
    """Yield each (path, sha256) file prepared as a (1, height, width, channels) chunk, in order."""
    paths = [path for path, _ in files]
    results = map_files(
        location, paths, prepare, workers=workers, description=description, pixels=(shape, np.uint8)
    )
    for (path, sha256), (digest, pixels) in zip(files, results, strict=True):
        if digest != sha256:
            raise ValueError(
                f"{path} in {location} changed since ingestion: "
                "run `kedro run --pipelines ingest` again."
            )
        yield pixels[np.newaxis]
