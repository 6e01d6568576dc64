"""Augmentation with OpenCV on real photos, against the Keras layers whose parameters it takes."""

import keras
import numpy as np
import pytest

from cat_dog_classifier.augmentation import augment


class LargestDraws:
    """Stands in for NumPy's generator: every uniform draw at its upper bound, no mirroring, so
    each transformation is its parameter's extreme."""

    def random(self, count: int) -> np.ndarray:
        return np.ones(count)

    def uniform(self, low: float, high: float, count: int) -> np.ndarray:
        return np.full(count, high)


@pytest.fixture(scope="module")
def photos(gray_set) -> np.ndarray:
    return gray_set["validation_images"][:8].astype(np.float32)


@pytest.mark.parametrize(
    ("params", "layer"),
    [
        ({"rotation": 0.05, "zoom": 0.0, "contrast": 0.0}, keras.layers.RandomRotation),
        ({"rotation": 0.0, "zoom": 0.1, "contrast": 0.0}, keras.layers.RandomZoom),
        ({"rotation": 0.0, "zoom": 0.0, "contrast": 0.2}, keras.layers.RandomContrast),
    ],
    ids=["rotation", "zoom", "contrast"],
)
def test_each_transformation_is_the_keras_layers_own(photos, params, layer):
    """The same parameter gives the same photo as Keras' layer at that extreme, borders included."""
    value = next(value for value in params.values() if value)
    if layer is keras.layers.RandomContrast:  # its factor (a, b) draws from [1 - a, 1 + b]
        extreme = layer((-value, value))
    else:  # theirs (a, b) from [a, b] turns, and from [1 + a, 1 + b] zoom factors
        extreme = layer((value, value), fill_mode="reflect")
    expected = np.asarray(extreme(photos, training=True))
    np.testing.assert_allclose(augment(photos, params, LargestDraws()), expected, atol=0.01)


def test_rotation_and_zoom_are_one_warp_of_kerass_two_step_geometry(photos):
    """Turning then zooming with two warps gives Keras' two layers' photo; the one warp that
    augment does reads the same points of the photo, interpolated once instead of twice."""
    keras_two_steps = keras.Sequential(
        [
            keras.layers.RandomRotation((0.05, 0.05), fill_mode="reflect"),
            keras.layers.RandomZoom((0.1, 0.1), fill_mode="reflect"),
        ]
    )
    expected = np.asarray(keras_two_steps(photos, training=True))
    turned = augment(photos, {"rotation": 0.05, "zoom": 0, "contrast": 0}, LargestDraws())
    two_warps = augment(turned, {"rotation": 0, "zoom": 0.1, "contrast": 0}, LargestDraws())
    np.testing.assert_allclose(two_warps, expected, atol=0.01)
    one_warp = augment(photos, {"rotation": 0.05, "zoom": 0.1, "contrast": 0}, LargestDraws())

    def detail(images: np.ndarray) -> float:  # what a second interpolation smooths away
        return float(np.abs(np.diff(images[:, 20:-20, 20:-20], axis=2)).mean())

    assert detail(two_warps) < detail(one_warp) < detail(photos)


def test_about_half_the_photos_are_mirrored_and_nothing_else_without_parameters(gray_set):
    photos = gray_set["train_images"][:64]
    still = augment(photos, {"rotation": 0, "zoom": 0, "contrast": 0}, np.random.default_rng(0))
    mirrored = [
        np.array_equal(out, photo[:, ::-1]) and not np.array_equal(out, photo)
        for out, photo in zip(still, photos.astype(np.float32), strict=True)
    ]
    unchanged = [np.array_equal(out, photo) for out, photo in zip(still, photos, strict=True)]
    assert all(m or u for m, u in zip(mirrored, unchanged, strict=True))
    assert 16 <= sum(mirrored) <= 48


def test_draws_come_from_the_generator_and_stay_in_range(rgb_set):
    photos = rgb_set["train_images"][:16]  # colour photos too (fine-tuning's augmentation)
    params = {"rotation": 0.1, "zoom": 0.2, "contrast": 0.2}
    first = augment(photos, params, np.random.default_rng(1))
    assert first.dtype == np.float32 and first.shape == photos.shape
    assert first.min() >= 0 and first.max() <= 255
    np.testing.assert_array_equal(augment(photos, params, np.random.default_rng(1)), first)
    assert not np.allclose(augment(photos, params, np.random.default_rng(2)), first)
