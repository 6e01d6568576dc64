"""The page's answers against training's: its model against Keras, and its whole photo chain
(decode, orientation, preprocessing, model) against training's chain, on the models as exported.

Training's reference: `cat_dog_classifier.images.preprocess_image` (decode, EXIF orientation,
colour conversion, INTER_AREA resize) at full size, as the page decodes, and the Keras model files
DVC tracks. With `preprocess.jpeg_dct_scaling`, training decodes JPEGs twice the input size or more
at a reduced scale: tests/test_images.py measures how far that moves the pixels.
"""

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser

from .conftest import ServedPage
from .pages import (
    BAND,
    TOLERANCE,
    keras_outputs,
    label,
    open_model,
    page_input,
    page_predict,
    possible_labels,
    sample_photos,
    splitting_band,
    training_input,
    training_pixels,
    upload,
)

MODELS = ["cnn", "transfer"]


@pytest.mark.slow
def test_the_models_are_tested_as_they_ship(served_page: ServedPage):
    """The default export: the CNN in float16, `transfer` in float32 (what `dvc repro` serves)."""
    assert served_page.entry("cnn")["quantization"] == "float16"
    assert served_page.entry("transfer")["quantization"] == "none"


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_tfjs_gives_keras_probabilities_within_the_quantizations_tolerance(
    served_page: ServedPage,
    launch_chromium: Callable[..., Browser],
    samples_dir: Path,
    keras_models: dict,
    model: str,
):
    """The exported graph model on the same preprocessed real photos as the registered model."""
    entry = served_page.entry(model)
    page = open_model(launch_chromium(), served_page.url, model)
    inputs = np.stack([training_input(photo, entry) for photo in sample_photos(samples_dir)])
    expected, expected_neither = keras_outputs(keras_models[model], inputs)

    answers = [page_predict(page, image) for image in inputs]
    actual = np.array([answer["dog"] for answer in answers])

    tolerance = TOLERANCE[entry["quantization"]]
    assert np.ptp(expected) > 0.01  # real, varied probabilities, not a constant
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tolerance)
    # The third answer's score, where the export has it (the test project's `transfer`: its
    # detector is fitted on the project's photos of other things), from the named second output.
    assert (expected_neither is not None) == (entry["neither"] is not None)
    if expected_neither is None:
        assert all(answer["neither"] is None for answer in answers)
    else:
        actual_neither = np.array([answer["neither"] for answer in answers])
        np.testing.assert_allclose(actual_neither, expected_neither, rtol=0, atol=tolerance)
        threshold = entry["neither"]["threshold"]
        ours = zip(actual, actual_neither, strict=True)
        theirs = zip(expected, expected_neither, strict=True)
        assert [label(d, BAND, n, threshold) for d, n in ours] == [
            label(d, BAND, n, threshold) for d, n in theirs
        ]
    # The same answers at the page's default band, and at a band between the photos (the small test
    # CNN hesitates, between 0.50 and 0.53, so its default answers are all "not sure").
    between, gap = splitting_band(expected)
    assert gap > 2 * tolerance
    for band in (BAND, between):
        assert [label(p, band) for p in actual] == [label(p, band) for p in expected]


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_a_photo_given_to_the_page_gets_trainings_input_and_probability(
    served_page: ServedPage,
    launch_chromium: Callable[..., Browser],
    samples_dir: Path,
    keras_models: dict,
    model: str,
):
    """The whole chain (decode, preprocess, model) in the page against training's chain + Keras."""
    entry = served_page.entry(model)
    page = open_model(launch_chromium(), served_page.url, model)
    for photo in sample_photos(samples_dir):
        theirs = training_input(photo, entry)
        dog, neither = keras_outputs(keras_models[model], theirs[np.newaxis])
        expected = dog[0]

        answer = upload(page, photo)
        ours = page_input(page, entry)

        # Same decoded RGB pixels on both sides (libjpeg-turbo; training converts to grayscale
        # from RGB too), and the page's conversion and resize are OpenCV's to the bit
        # (test_preprocess.py): the same input, every value of it.
        np.testing.assert_array_equal(ours, theirs, err_msg=photo.name)
        # So the probabilities differ only as the exported model's arithmetic does (the tolerance
        # of its quantization, as test_tfjs_gives_keras_probabilities_within_... measures it).
        tolerance = TOLERANCE[entry["quantization"]]
        assert answer["dog"] == pytest.approx(expected, abs=tolerance), photo.name
        if neither is None:
            assert answer["label"] in possible_labels(expected, tolerance), photo.name
        else:
            assert answer["neither"] == pytest.approx(neither[0], abs=tolerance), photo.name
            threshold = entry["neither"]["threshold"]
            answers = possible_labels(expected, tolerance, neither[0], threshold)
            assert answer["label"] in answers, photo.name


def phone_photo(photo: Path, orientation: int) -> tuple[bytes, np.ndarray]:
    """A JPEG stored sideways, as a phone held upright stores it, with the EXIF orientation that
    says how to turn it upright (6: 90° clockwise, 8: 90° anticlockwise); and the upright RGB
    pixels of that very JPEG (its stored pixels, turned losslessly)."""
    upright = Image.open(photo).convert("RGB")
    stored = upright.rotate(90 if orientation == 6 else -90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    turned = np.rot90(decoded, k=-1 if orientation == 6 else 1)
    return buffer.getvalue(), np.ascontiguousarray(turned)


@pytest.mark.slow
@pytest.mark.parametrize("orientation", [6, 8])
def test_a_phone_photo_with_exif_orientation_is_classified_upright(
    served_page: ServedPage,
    launch_chromium: Callable[..., Browser],
    samples_dir: Path,
    tmp_path: Path,
    orientation: int,
):
    entry = served_page.entry("transfer")
    jpeg, upright = phone_photo(samples_dir / "dog" / "puppy.jpg", orientation)
    photo = tmp_path / f"phone-{orientation}.jpg"
    photo.write_bytes(jpeg)
    assert upright.shape[0] != upright.shape[1]  # sideways and upright differ after the stretch
    page = open_model(launch_chromium(), served_page.url, "transfer")

    answer = upload(page, photo)
    ours = page_input(page, entry)

    expected = training_pixels(upright, entry).astype(np.float64)
    sideways = training_pixels(np.rot90(upright), entry).astype(np.float64)
    # Pillow and the browser both decode with libjpeg-turbo: the same pixels, up to the one level
    # of the resize's rounding (see above).
    assert np.abs(ours - expected).max() <= 1
    assert np.abs(ours - sideways).mean() > 20  # what ignoring the tag would give
    assert np.abs(training_input(photo, entry) - expected).max() == 0  # training turns it too
    assert answer["label"] == "dog"
