"""cat_dog_classifier.looks: the same real photos sharper, softer, re-compressed, framed closer,
noisier, each change of the kind its name says, seeded, in RGB and gray."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from cat_dog_classifier.images import ImageSpec, preprocess_image
from cat_dog_classifier.looks import LOOKS, in_look

SPECS = (ImageSpec(192, 192, "rgb", "area"), ImageSpec(100, 100, "grayscale", "area"))


@pytest.fixture(scope="module", params=SPECS, ids=["rgb", "gray"])
def photos(request, samples_dir: Path) -> np.ndarray:
    files = sorted((samples_dir / "dog").glob("*")) + sorted((samples_dir / "cat").glob("*"))
    return np.stack([preprocess_image(path.read_bytes(), request.param) for path in files])


def detail(images: np.ndarray) -> float:
    """Mean absolute Laplacian: how much fine detail the photos hold."""
    return float(
        np.mean([np.abs(cv2.Laplacian(i.astype(np.float32), cv2.CV_32F)).mean() for i in images])
    )


@pytest.mark.parametrize("look", sorted(LOOKS))
def test_each_look_keeps_the_photos_shape_and_type_and_is_seeded(photos: np.ndarray, look: str):
    first = in_look(photos, look, seed=1)
    assert first.shape == photos.shape and first.dtype == np.uint8
    assert np.array_equal(first, in_look(photos, look, seed=1))
    assert not np.array_equal(first, in_look(photos, look, seed=2))
    assert not np.array_equal(first, photos)


def test_sharper_softer_and_noisier_change_the_detail_as_named(photos: np.ndarray):
    before = detail(photos)
    assert detail(in_look(photos, "sharpened", 0)) > 1.3 * before
    assert detail(in_look(photos, "softened", 0)) < 0.8 * before
    assert detail(in_look(photos, "noisy", 0)) > before


def test_recompressed_and_cropped_stay_the_same_picture(photos: np.ndarray):
    """Re-compression moves levels a little and nothing else; a crop shows a part of the photo:
    near it on average, never the same."""
    recompressed = in_look(photos, "recompressed", 0).astype(int)
    assert 0 < np.abs(recompressed - photos).mean() < 6
    cropped = in_look(photos, "cropped", 0).astype(int)
    correlation = np.corrcoef(cropped.ravel(), photos.ravel().astype(int))[0, 1]
    assert 0.3 < correlation < 0.999


def test_an_unknown_look_is_refused(photos: np.ndarray):
    with pytest.raises(ValueError, match="Unknown look 'blurry'"):
        in_look(photos, "blurry", 0)
