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
    DETECTORS,
    calibrate,
    classifier_layer,
    feature_model,
    fit_detector,
    in_mixed_looks,
    mahalanobis_distance,
    mahalanobis_statistics,
    nearest_pet_parts,
    nearest_pet_score,
    predict_features,
    unit_length,
    with_neither_output,
)
from cat_dog_classifier.pipelines.export.nodes import MANIFEST, export_tfjs_models

SETTINGS = {"pet_acceptance": 0.9, "fit_pets": 40, "regularisation": 1.0, "seed": 0}
NEAREST_PET = SETTINGS | {
    "detector": "nearest_pet",
    "unit_features": True,
    "looks": ["sharpened", "recompressed", "softened", "cropped", "noisy", "mixed"],
    "confidence_weight": 0.5,
    "confidence_cap": 12.0,
}


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
    assert classifier_layer(model) is head.get_layer("dog_probability")


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


def test_nearest_pet_layers_compute_what_numpy_computes(model_and_input):
    model, model_input = model_and_input
    detector = fit_detector(model, model_input, NEAREST_PET)
    assert detector["bank"].shape == (40, 16)
    np.testing.assert_allclose(np.linalg.norm(detector["bank"], axis=1), 1.0, rtol=1e-5)
    combined = with_neither_output(model, detector)

    images = np.concatenate([model_input["test_images"], model_input["test_neither_images"]])
    outputs = combined.predict(images.astype("float32"), verbose=0)
    np.testing.assert_allclose(
        outputs["dog_probability"], model.predict(images.astype("float32"), verbose=0), atol=1e-6
    )
    features = predict_features(model, images, 8)
    distance, negative_confidence = nearest_pet_parts(features, detector)
    assert np.all((distance >= -1e-6) & (distance <= 2))
    # minus |logit|, the logit being the one behind the model's own P(dog)
    probability = np.clip(outputs["dog_probability"].ravel(), 1e-6, 1 - 1e-6)
    np.testing.assert_allclose(
        -negative_confidence, np.abs(np.log(probability / (1 - probability))), atol=1e-3
    )
    score = nearest_pet_score(features, detector)
    expected = 1 / (1 + np.exp(-(score - detector["threshold"]) / detector["scale"]))
    np.testing.assert_allclose(outputs["neither_score"].ravel(), expected, atol=2e-4)


def test_a_banked_pet_is_at_distance_zero_and_the_weight_adds_the_confidence(model_and_input):
    model, model_input = model_and_input
    assert len(model_input["train_images"]) == NEAREST_PET["fit_pets"]  # every pet is banked
    as_they_are = fit_detector(model, model_input, NEAREST_PET | {"looks": []})
    banked = predict_features(model, model_input["train_images"], 8)
    distance, negative_confidence = nearest_pet_parts(banked, as_they_are)
    np.testing.assert_allclose(distance, 0.0, atol=1e-5)

    features = predict_features(model, model_input["test_images"], 8)
    distance, negative_confidence = nearest_pet_parts(features, as_they_are)
    scaled_distance = (distance - as_they_are["distance_centre"]) / as_they_are["distance_spread"]
    scaled_confidence = (negative_confidence - as_they_are["confidence_centre"]) / as_they_are[
        "confidence_spread"
    ]
    assert np.std(scaled_confidence) > 0.1
    for weight in (0.0, 0.5, 2.0):
        np.testing.assert_allclose(
            nearest_pet_score(features, as_they_are | {"confidence_weight": weight}),
            scaled_distance + weight * scaled_confidence,
        )


def test_the_nearest_pet_is_the_closest_direction_and_the_confidence_is_capped():
    detector = {
        "bank": np.array([[1.0, 0.0], [0.0, 1.0]]),
        "logit_weights": np.array([10.0, 0.0]),
        "logit_bias": 1.0,
        "confidence_cap": 12.0,
    }
    features = np.array([[3.0, 0.0], [0.5, 0.5], [-2.0, 0.0]])  # raw: of any length
    distance, negative_confidence = nearest_pet_parts(features, detector, chunk=2)
    assert distance == pytest.approx([0.0, 1 - np.sqrt(0.5), 1.0], abs=1e-6)
    assert negative_confidence == pytest.approx([-12.0, -6.0, -12.0])  # |31| and |-19| capped


def test_the_bank_holds_pets_in_other_looks(gray_set):
    pets = gray_set["train_images"][:40]
    looks = ["sharpened", "noisy"]
    mixed = in_mixed_looks(pets, looks, seed=3)
    assert mixed.shape == pets.shape and mixed.dtype == pets.dtype
    changed = np.any(mixed != pets, axis=(1, 2, 3))
    assert 5 <= changed.sum() <= 38  # about two in three in another look, the rest as they are
    np.testing.assert_array_equal(mixed, in_mixed_looks(pets, looks, seed=3))
    np.testing.assert_array_equal(in_mixed_looks(pets, [], seed=3), pets)


def test_nearest_pet_needs_unit_features(model_and_input):
    model, model_input = model_and_input
    with pytest.raises(ValueError, match="unit_features"):
        fit_detector(model, model_input, NEAREST_PET | {"unit_features": False})


def test_the_threshold_accepts_the_asked_share_of_validation_pets(model_and_input):
    model, model_input = model_and_input
    for kind in DETECTORS:
        settings = NEAREST_PET if kind == "nearest_pet" else {**SETTINGS, "detector": kind}
        combined = with_neither_output(model, fit_detector(model, model_input, settings))
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
    settings = NEAREST_PET  # as shipped
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
