"""Preprocessing: a seeded stratified split, then uint8 pixel arrays per split."""

from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from cat_dog_classifier.image_source import map_files
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
) -> dict[str, np.ndarray]:
    """Decode, convert and resize every usable image into `{split}_images/_labels/_paths` arrays.

    Images are (N, height, width, 1 or 3) uint8 (RGB order), labels uint8 (0 cat, 1 dog), paths
    the manifest `path`; rows are in path order within each split.
    """
    height, width = int(image["height"]), int(image["width"])
    color_mode = image["color_mode"]
    if color_mode not in CHANNELS:
        raise ValueError(f"color_mode must be one of {sorted(CHANNELS)}, got {color_mode!r}")
    usable = image_splits[image_splits["status"] == "ok"]
    ordered = pd.concat([usable[usable["split"] == name] for name in SPLITS], ignore_index=True)
    locations = ordered["source"].unique()
    if len(locations) != 1:
        raise ValueError(f"Expected one image source in the manifest, found {list(locations)}")

    pixels = np.empty((len(ordered), height, width, CHANNELS[color_mode]), dtype=np.uint8)
    prepare = partial(
        prepare_file,
        height=height,
        width=width,
        color_mode=color_mode,
        interpolation=image["interpolation"],
    )
    results = map_files(
        str(locations[0]),
        list(ordered["path"]),
        prepare,
        workers=workers,
        description=f"preprocess {width}x{height} {color_mode}",
    )
    expected = zip(ordered["path"], ordered["sha256"], strict=True)
    for row, ((path, sha256), (digest, prepared)) in enumerate(zip(expected, results, strict=True)):
        if digest != sha256:
            raise ValueError(
                f"{path} in {locations[0]} changed since ingestion: "
                "run `kedro run --pipeline ingest` again."
            )
        pixels[row] = prepared  # written in place: no second copy of the whole set

    arrays: dict[str, np.ndarray] = {}
    start = 0
    for name in SPLITS:
        rows = ordered[ordered["split"] == name]
        stop = start + len(rows)
        arrays[f"{name}_images"] = pixels[start:stop]
        arrays[f"{name}_labels"] = rows["label"].map(LABEL_CODES).to_numpy(dtype=np.uint8)
        arrays[f"{name}_paths"] = rows["path"].to_numpy(dtype=str)
        start = stop
    return arrays
