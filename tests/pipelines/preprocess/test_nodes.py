"""Split and preprocessing nodes on real photos from the shared zip."""

import zipfile
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from cat_dog_classifier.datasets import NpzDataset
from cat_dog_classifier.images import prepare_files
from cat_dog_classifier.pipelines.ingest.nodes import (
    inspect_images,
    inspect_neither_images,
    reject_duplicates,
)
from cat_dog_classifier.pipelines.preprocess import nodes
from cat_dog_classifier.pipelines.preprocess.nodes import (
    preprocess_images,
    sets_to_keep,
    split_images,
)

SPLIT = {"train": 0.8, "validation": 0.1, "test": 0.1, "seed": 42}
NEITHER_SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2}
GRAY100 = {"height": 100, "width": 100, "color_mode": "grayscale", "interpolation": "area"}
RGB160 = {"height": 160, "width": 160, "color_mode": "rgb", "interpolation": "area"}


@pytest.fixture(scope="module")
def manifest(small_source_zip: Path, small_neither_zip: Path) -> pd.DataFrame:
    params = {"source": str(small_source_zip), "min_side": 32, "max_pixels": 10**7, "workers": 2}
    return reject_duplicates(
        inspect_images(str(small_source_zip), params),
        inspect_neither_images(str(small_neither_zip), params),
    )


@pytest.fixture(scope="module")
def splits(manifest: pd.DataFrame) -> pd.DataFrame:
    return split_images(manifest, SPLIT, NEITHER_SPLIT)


def test_split_is_stratified_in_the_given_fractions(splits: pd.DataFrame) -> None:
    counts = splits.groupby(["split", "label"]).size().to_dict()
    assert counts == {
        ("test", "cat"): 15,
        ("test", "dog"): 15,
        ("train", "cat"): 120,
        ("train", "dog"): 120,
        ("validation", "cat"): 15,
        ("validation", "dog"): 15,
        ("train", "neither"): 60,
        ("validation", "neither"): 20,
        ("test", "neither"): 20,
    }


def test_split_depends_on_seed_not_on_row_order(manifest: pd.DataFrame) -> None:
    shuffled = manifest.sample(frac=1, random_state=7)
    same = split_images(shuffled, SPLIT, NEITHER_SPLIT)
    pd.testing.assert_frame_equal(same, split_images(manifest, SPLIT, NEITHER_SPLIT))
    other_seed = split_images(manifest, SPLIT | {"seed": 43}, NEITHER_SPLIT)
    assert (other_seed["split"] != same["split"]).any()


def test_rejected_rows_get_no_split(manifest: pd.DataFrame) -> None:
    with_rejects = manifest.copy()
    with_rejects.loc[:4, ["status", "reason"]] = ["rejected", "corrupt"]
    split = split_images(with_rejects, SPLIT, NEITHER_SPLIT)
    assert (split.loc[:4, "split"] == "").all()
    assert (split.loc[5:, "split"] != "").all()


def test_bad_fractions_are_refused(manifest: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        split_images(manifest, SPLIT | {"train": 0.9}, NEITHER_SPLIT)
    with pytest.raises(ValueError, match="sum to 1"):
        split_images(manifest, SPLIT, NEITHER_SPLIT | {"train": 0.7})


def preprocess_and_save(
    splits: pd.DataFrame, sets: dict[str, dict], workers: int, folder: Path
) -> dict[str, Mapping[str, np.ndarray]]:
    """Save every set, in the order given (as Kedro saves the node's outputs), and load them."""
    arrays = preprocess_images(splits, jpeg_dct_scaling=True, workers=workers, **sets)
    loaded = {}
    for name in sets:
        dataset = NpzDataset(filepath=str(folder / f"{name}.npz"))
        dataset.save(arrays[name])
        loaded[name] = dataset.load()
    return loaded


@pytest.fixture(scope="module")
def gray100(splits: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Mapping:
    folder = tmp_path_factory.mktemp("sets")
    return preprocess_and_save(splits, {"gray100": GRAY100}, 2, folder)["gray100"]


def test_arrays_follow_the_model_input_contract(splits: pd.DataFrame, gray100: Mapping) -> None:
    sizes = {"train": 240, "validation": 30, "test": 30}
    keys = ("images", "labels", "paths", "neither_images", "neither_paths")
    assert set(gray100) == {f"{split}_{key}" for split in sizes for key in keys}
    for split, size in sizes.items():
        assert gray100[f"{split}_images"].shape == (size, 100, 100, 1)
        assert gray100[f"{split}_images"].dtype == np.uint8
        assert gray100[f"{split}_labels"].dtype == np.uint8
        rows = splits[splits["split"] == split]
        pets = rows[rows["label"] != "neither"]
        assert list(gray100[f"{split}_paths"]) == list(pets["path"])  # path order
        expected = (pets["label"] == "dog").astype(np.uint8).to_numpy()
        np.testing.assert_array_equal(gray100[f"{split}_labels"], expected)
        others = rows[rows["label"] == "neither"]
        assert list(gray100[f"{split}_neither_paths"]) == list(others["path"])
        assert gray100[f"{split}_neither_images"].shape == (len(others), 100, 100, 1)


def test_pixels_are_the_decoded_resized_photo(
    small_source_zip: Path, splits: pd.DataFrame, gray100: Mapping, tmp_path: Path
) -> None:
    rgb160 = preprocess_and_save(splits, {"rgb160": RGB160}, 1, tmp_path)["rgb160"]
    path = str(rgb160["test_paths"][3])
    with zipfile.ZipFile(small_source_zip) as archive:
        encoded = np.frombuffer(archive.read(path), np.uint8)
    bgr = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    area = cv2.INTER_AREA
    assert rgb160["test_images"].shape == (30, 160, 160, 3)
    rgb = cv2.resize(bgr, (160, 160), interpolation=area)[..., ::-1]
    np.testing.assert_array_equal(rgb160["test_images"][3], rgb)  # R, G, B order
    gray = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), (100, 100), interpolation=area)
    index = list(gray100["test_paths"]).index(path)
    np.testing.assert_array_equal(gray100["test_images"][index, ..., 0], gray)


def test_photos_of_other_things_are_read_from_their_own_source(
    small_neither_zip: Path, gray100: Mapping
) -> None:
    path = str(gray100["validation_neither_paths"][5])
    with zipfile.ZipFile(small_neither_zip) as archive:
        encoded = np.frombuffer(archive.read(path), np.uint8)
    gray = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    gray = cv2.resize(gray, (100, 100), interpolation=cv2.INTER_AREA).astype(int)
    # Decoded at half size first (DCT scaling: 256 px photos for a 100 px set): a few levels off.
    difference = np.abs(gray100["validation_neither_images"][5, ..., 0].astype(int) - gray)
    assert difference.mean() < 1 and difference.max() <= 8


@pytest.fixture
def prepared_files(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many files each call of prepare_files decoded."""
    counts = []

    def counted(source, files, specs, out):
        counts.append(len(files))
        return prepare_files(source, files, specs, out)

    monkeypatch.setattr(nodes, "prepare_files", counted)
    return counts


@pytest.mark.parametrize("order", [("rgb160", "gray100"), ("gray100", "rgb160")])
def test_sets_are_the_same_in_any_order_and_decoded_once_largest_first(
    splits: pd.DataFrame,
    gray100: Mapping,
    tmp_path: Path,
    prepared_files: list[int],
    order: tuple[str, str],
) -> None:
    params = {"rgb160": RGB160, "gray100": GRAY100}
    both = preprocess_and_save(splits, {name: params[name] for name in order}, 2, tmp_path)
    for key in gray100:
        np.testing.assert_array_equal(both["gray100"][key], gray100[key])
    assert both["rgb160"]["train_images"].shape == (240, 160, 160, 3)
    usable = int((splits["status"] == "ok").sum())
    decoded_once = order[0] == "rgb160"  # the larger set streams, the smaller one is kept
    assert sum(prepared_files) == usable * (1 if decoded_once else 2)


def test_only_sets_that_fit_in_memory_together_are_kept() -> None:
    mib = 2**20
    assert sets_to_keep({"rgb160": 1900 * mib, "gray100": 250 * mib}) == {"gray100"}
    assert sets_to_keep({"a": 300 * mib, "b": 300 * mib, "c": 100 * mib}) == {"c", "a"}
    assert sets_to_keep({"big": 900 * mib, "bigger": 1000 * mib}) == set()
    assert sets_to_keep({"only": mib}) == set()


def test_a_source_changed_since_ingestion_is_refused(splits: pd.DataFrame) -> None:
    tampered = splits.copy()
    tampered.loc[tampered["split"] == "test", "sha256"] = "0" * 64
    arrays = preprocess_images(tampered, jpeg_dct_scaling=True, workers=2, gray100=GRAY100)
    images = arrays["gray100"]["test_images"]
    with pytest.raises(ValueError, match="changed since ingestion"):
        np.asarray(images)  # the images are made when used
