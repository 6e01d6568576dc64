"""The third answer: detectors on a real model's features of real photos, built into the model as
standard layers, computing what NumPy computes, saved, reloaded and exported to TF.js."""

import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from cat_dog_classifier.images import decode_image, resize
from cat_dog_classifier.model_files import model_md5
from cat_dog_classifier.models import build_model
from cat_dog_classifier.neither import (
    calibrate,
    feature_model,
    fit_detector,
    mahalanobis_distance,
    mahalanobis_statistics,
    predict_features,
    unit_length,
    with_neither_output,
)
from cat_dog_classifier.pipelines.export.nodes import MANIFEST, export_tfjs_models

SETTINGS = {"pet_acceptance": 0.9, "fit_pets": 40, "regularisation": 1.0, "seed": 0}


@pytest.fixture(scope="module")
def other_photos(small_neither_zip: Path) -> np.ndarray:
    """24 real photos of other things (no cat nor dog), 48x48 grayscale."""
    with zipfile.ZipFile(small_neither_zip) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".jpg"))[:24]
        return np.stack(
            [
                resize(decode_image(archive.read(n), color_mode="grayscale").pixels, 48, 48, "area")
                for n in names
            ]
        )


@pytest.fixture(scope="module")
def model_and_input(gray_set: dict, other_photos: np.ndarray) -> tuple[keras.Model, dict]:
    """A small real CNN fitted a little on 40 real photos; the set with photos of other things."""
    keras.utils.set_random_seed(0)
    model = build_model(
        (48, 48, 1),
        {"architecture": "cnn", "filters": [8, 16], "kernel_size": 3, "dense_units": 16},
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(
        gray_set["train_images"].astype("float32"), gray_set["train_labels"], epochs=3, verbose=0
    )
    model_input = dict(gray_set)
    for split, part in (
        ("train", other_photos[:12]),
        ("validation", other_photos[12:18]),
        ("test", other_photos[18:]),
    ):
        model_input[f"{split}_neither_images"] = part
        model_input[f"{split}_neither_paths"] = np.array(
            [f"neither/{i}.jpg" for i in range(len(part))]
        )
    return model, model_input


def test_features_are_what_the_classifier_reads(model_and_input):
    model, _ = model_and_input
    features = feature_model(model)
    assert features.output.shape[-1] == 16
    assert feature_model(model).input is model.input


def test_a_transfer_models_features_are_its_pooled_backbone_features():
    params = {"architecture": "transfer", "backbone": "mobilenet_v2", "weights": None}
    model = build_model((64, 64, 3), params | {"head_dropout": 0.0})
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3)).astype("float32")
    features = feature_model(model).predict(images, verbose=0)
    assert features.shape == (2, 1280)
    # The head's Dense on these features is the model's P(dog).
    head = model.get_layer("head")
    np.testing.assert_allclose(head.predict(features, verbose=0), model.predict(images, verbose=0))


@pytest.mark.parametrize("unit", [False, True], ids=["raw", "unit_length"])
def test_mahalanobis_layers_compute_what_numpy_computes(model_and_input, unit):
    model, model_input = model_and_input
    settings = {**SETTINGS, "detector": "mahalanobis", "unit_features": unit}
    detector = fit_detector(model, model_input, settings)
    combined = with_neither_output(model, detector)
    names = [layer.name for layer in combined.layers]
    assert ("neither_unit_features" in names) == unit

    images = np.concatenate([model_input["test_images"], model_input["test_neither_images"]])
    outputs = combined.predict(images.astype("float32"), verbose=0)
    assert set(outputs) == {"dog_probability", "neither_score"}
    np.testing.assert_allclose(
        outputs["dog_probability"], model.predict(images.astype("float32"), verbose=0), atol=1e-6
    )
    features = predict_features(model, images, 8, unit)
    distance = mahalanobis_distance(features, detector["statistics"])
    expected = 1 / (1 + np.exp(-(distance - detector["threshold"]) / detector["scale"]))
    np.testing.assert_allclose(outputs["neither_score"].ravel(), expected, atol=2e-4)


def test_the_threshold_accepts_the_asked_share_of_validation_pets(model_and_input):
    model, model_input = model_and_input
    for kind in ("mahalanobis", "relative_mahalanobis", "logistic"):
        combined = with_neither_output(
            model, fit_detector(model, model_input, {**SETTINGS, "detector": kind})
        )
        scores = combined.predict(model_input["validation_images"].astype("float32"), verbose=0)
        accepted = np.mean(scores["neither_score"].ravel() < 0.5)
        assert accepted == pytest.approx(SETTINGS["pet_acceptance"], abs=1 / 12), kind


def test_unit_length_is_what_keras_unit_normalization_computes():
    features = np.random.default_rng(0).normal(0, 3, (5, 7)).astype("float32")
    expected = keras.layers.UnitNormalization()(features)
    np.testing.assert_allclose(unit_length(features), expected, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(unit_length(features), axis=1), 1.0)


def test_calibration_is_a_quantile_of_the_pets_scores():
    threshold, scale = calibrate(np.arange(101, dtype=float), 0.98)
    assert threshold == pytest.approx(98.0)
    assert scale == pytest.approx(np.std(np.arange(101)))


def test_statistics_are_per_class_means_and_a_shared_precision():
    rng = np.random.default_rng(0)
    features = np.r_[rng.normal(0, 1, (400, 3)), rng.normal(5, 2, (400, 3))]
    labels = np.r_[np.zeros(400), np.ones(400)]
    statistics = mahalanobis_statistics(features, labels)
    np.testing.assert_allclose(statistics["means"], [[0, 0, 0], [5, 5, 5]], atol=0.3)
    within = np.cov(np.r_[features[:400], features[400:] - 5].T)  # the shared covariance
    np.testing.assert_allclose(statistics["precision"] @ within, np.eye(3), atol=0.15)
    # Beyond a class along the classes' axis, the class distance grows faster than the distance
    # to all pets (whose spread includes the gap between the classes).
    points = np.array([[5.0, 5, 5], [20.0, 20, 20]])
    near, far = mahalanobis_distance(points, statistics, relative=True)
    assert far > near
    # Without the pets' Gaussian: the distance to the nearer class.
    np.testing.assert_allclose(mahalanobis_distance(points[:1], statistics), [0.0], atol=0.2)


@pytest.mark.slow
def test_a_model_with_the_third_answer_saves_and_exports_to_tfjs(model_and_input, tmp_path):
    model, model_input = model_and_input
    settings = {**SETTINGS, "detector": "mahalanobis", "unit_features": True}  # as shipped
    combined = with_neither_output(model, fit_detector(model, model_input, settings))
    combined.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    images = model_input["test_neither_images"].astype("float32")
    np.testing.assert_allclose(
        reloaded.predict(images, verbose=0)["neither_score"],
        combined.predict(images, verbose=0)["neither_score"],
        atol=1e-6,
    )
    model_file = (tmp_path / "model.keras").read_bytes()
    record = {
        "id": "cnn",
        "variant": "cnn",
        "architecture": "cnn",
        "aliases": ["champion"],
        "model_md5": model_md5(model_file),
        "input": {
            "height": 48,
            "width": 48,
            "channels": 1,
            "color_mode": "grayscale",
            "interpolation": "area",
        },
        "validation": {"accuracy": 0.5},
        "test": {"accuracy": 0.5},
        "neither": {"output": "neither_score", "threshold": 0.5},
    }
    files = export_tfjs_models([record], model_file, [])
    manifest = json.loads(files[MANIFEST])
    assert manifest["models"][0]["neither"] == {"output": "neither_score", "threshold": 0.5}
    metadata = json.loads(files["cnn/model.json"])["userDefinedMetadata"]
    assert metadata["structuredOutputKeys"] == ["dog_probability", "neither_score"]
