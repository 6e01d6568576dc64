"""The third answer, "no cat or dog here": a detector on a trained model's own features, fitted on
the photos it was trained on (and, for the trained detector, photos of other things), calibrated on
validation photos, and built into the model as a second output, `neither_score`, next to P(dog).

Four detectors, compared in benchmarks/neither.py:
- `nearest_pet` (the default): the cosine distance of the features to the nearest of a bank of
  training pets, each seen as it is or in another look (sharpened, re-compressed, softened,
  cropped, noisy: cat_dog_classifier.looks), plus `confidence_weight` times minus the classifier's
  own confidence |logit P(dog)|, each term scaled by its median and spread on the validation pets.
  A Gaussian per class (below) learns the training copies' look as part of "pet" and turned away
  sharp photos of pets from elsewhere; the nearest banked pet in a like look does not, and a
  classifier sure it sees a dog is evidence of a pet whatever the distance (README, "The third
  answer");
- `mahalanobis`: the Mahalanobis distance of the features to the nearer of the cats' and the dogs'
  Gaussians (shared covariance, Ledoit-Wolf shrinkage; Lee et al., 2018): fitted on pets alone;
- `relative_mahalanobis`: the same minus the distance to one Gaussian of all pets (Ren et al.,
  2021). With two classes this cancels the very "far from every pet" signal wanted here: photos
  halfway between cats and dogs in feature space look most like pets to it;
- `logistic`: a logistic regression on the same features, pets against photos of other things.
With `unit_features`, a detector reads the features scaled to unit length ("Mahalanobis++",
Mueller and Hein, 2025): the features' length varies widely from photo to photo within a class,
and one Gaussian per class fits the directions far better than the raw vectors (for `transfer`,
AUROC 0.985 raw, 0.998 scaled: benchmarks/neither.py).
Each becomes standard Keras layers (Dense, Multiply, Minimum...) on the features, so the exported
graph computes it and the page needs no maths of its own. The score is squashed so that the
calibrated threshold sits at 0.5: the share of validation pets that `pet_acceptance` asks for
scores below it.
"""

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import layers

OUTPUTS = ("dog_probability", "neither_score")
DETECTORS = ("nearest_pet", "mahalanobis", "relative_mahalanobis", "logistic")


def feature_model(model: keras.Model) -> keras.Model:
    """The model up to the features its classifier reads: the backbone's pooled features
    (`transfer`), or the hidden Dense layer's activations (the CNNs)."""
    names = [layer.name for layer in model.layers]
    if "pooled_features" in names:  # transfer: the head reads the pooled backbone features
        return keras.Model(model.input, model.get_layer("pooled_features").output)
    return keras.Model(model.input, model.get_layer("dog_probability").input)


def classifier_layer(model: keras.Model) -> layers.Dense:
    """The Dense layer that gives P(dog) from the features: the model's own for the CNNs, inside
    its `head` for `transfer`."""
    for layer in model.layers:
        if layer.name == "dog_probability":
            return layer
        if isinstance(layer, keras.Model) and "dog_probability" in [x.name for x in layer.layers]:
            return layer.get_layer("dog_probability")
    raise ValueError(f"{model.name}: no dog_probability layer")


def unit_length(features: np.ndarray) -> np.ndarray:
    """Each feature vector scaled to length 1, as Keras' UnitNormalization does (NumPy)."""
    features = features.astype("float64")
    norms = np.sqrt(np.maximum(np.sum(features**2, axis=1, keepdims=True), 1e-12))
    return features / norms


def mahalanobis_statistics(features: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class means, a shared precision matrix, and one Gaussian of all pets, with shrinkage."""
    from sklearn.covariance import LedoitWolf  # noqa: PLC0415

    features = features.astype("float64")
    classes = sorted(np.unique(labels))
    means = np.stack([features[labels == c].mean(axis=0) for c in classes])
    centred = features - means[np.searchsorted(classes, labels)]
    background_mean = features.mean(axis=0)
    return {
        "means": means,
        "precision": LedoitWolf().fit(centred).precision_,
        "background_mean": background_mean[np.newaxis],
        "background_precision": LedoitWolf().fit(features - background_mean).precision_,
    }


def mahalanobis_distance(
    features: np.ndarray, statistics: Mapping[str, np.ndarray], relative: bool = False
) -> np.ndarray:
    """min over classes of the Mahalanobis distance; `relative`: minus the distance to all pets
    (NumPy)."""

    def distances(means: np.ndarray, precision: np.ndarray) -> np.ndarray:
        centred = features[:, np.newaxis, :] - means[np.newaxis]
        return np.einsum("nkd,de,nke->nk", centred, precision, centred)

    classes = distances(statistics["means"], statistics["precision"]).min(axis=1)
    if not relative:
        return classes
    background = distances(statistics["background_mean"], statistics["background_precision"])
    return classes - background[:, 0]


def fit_logistic(
    pet_features: np.ndarray, other_features: np.ndarray, regularisation: float, seed: int
) -> tuple[np.ndarray, float]:
    """Weights and bias of a logistic regression scoring "not a pet", classes balanced."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    features = np.concatenate([pet_features, other_features]).astype("float64")
    targets = np.r_[np.zeros(len(pet_features)), np.ones(len(other_features))]
    scaler = StandardScaler().fit(features)
    regression = LogisticRegression(
        C=1.0 / regularisation, class_weight="balanced", max_iter=2000, random_state=seed
    ).fit(scaler.transform(features), targets)
    # Fold the standardisation into the weights: one Dense layer on the raw features.
    weights = regression.coef_[0] / scaler.scale_
    bias = float(
        regression.intercept_[0] - np.sum(regression.coef_[0] * scaler.mean_ / scaler.scale_)
    )
    return weights, bias


def in_mixed_looks(images: np.ndarray, looks: list[str], seed: int) -> np.ndarray:
    """A copy of `images` with each photo as it is or in one of `looks` (cat_dog_classifier.looks),
    drawn at random per photo, all equally likely."""
    from cat_dog_classifier.looks import in_look  # noqa: PLC0415

    drawn = np.random.default_rng(seed).integers(0, len(looks) + 1, len(images))
    result = np.array(images, copy=True)
    for index, look in enumerate(looks, start=1):
        if np.any(drawn == index):
            result[drawn == index] = in_look(result[drawn == index], look, seed + index)
    return result


def nearest_pet_parts(
    features: np.ndarray, detector: Mapping[str, Any], chunk: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """(cosine distance to the nearest banked pet, minus the classifier's confidence |logit|
    capped at `confidence_cap`) of raw features (NumPy)."""
    unit, bank = unit_length(features).astype("float32"), detector["bank"].astype("float32")
    distance = np.concatenate(
        [1.0 - (unit[i : i + chunk] @ bank.T).max(axis=1) for i in range(0, len(unit), chunk)]
    ).astype("float64")
    logit = features.astype("float64") @ detector["logit_weights"] + detector["logit_bias"]
    return distance, -np.minimum(np.abs(logit), detector["confidence_cap"])


def nearest_pet_score(features: np.ndarray, detector: Mapping[str, Any]) -> np.ndarray:
    """The distance plus `confidence_weight` times minus the confidence, each scaled by its median
    and spread on the validation pets (NumPy)."""
    distance, negative_confidence = nearest_pet_parts(features, detector)
    distance = (distance - detector["distance_centre"]) / detector["distance_spread"]
    negative_confidence = (negative_confidence - detector["confidence_centre"]) / detector[
        "confidence_spread"
    ]
    return distance + detector["confidence_weight"] * negative_confidence


def fit_nearest_pet(
    model: keras.Model, pet_images: np.ndarray, validation_features: np.ndarray, settings: Mapping
) -> dict[str, Any]:
    """The bank (the unit features of `pet_images`, each in a look drawn from `settings["looks"]`),
    the classifier's own logit, and the scaling of both terms on the validation pets' (raw)
    features."""
    batch, seed = int(settings.get("batch_size", 64)), int(settings.get("seed", 0))
    banked = in_mixed_looks(pet_images, list(settings.get("looks") or []), seed)
    kernel, bias = classifier_layer(model).get_weights()
    detector: dict[str, Any] = {
        "bank": predict_features(model, banked, batch, unit=True).astype("float32"),
        "logit_weights": kernel[:, 0].astype("float64"),
        "logit_bias": float(bias[0]),
        "confidence_weight": float(settings.get("confidence_weight", 0.0)),
        "confidence_cap": float(settings.get("confidence_cap", 12.0)),
    }
    distance, negative_confidence = nearest_pet_parts(validation_features, detector)
    return detector | {
        "distance_centre": float(np.median(distance)),
        "distance_spread": float(np.std(distance)) or 1.0,
        "confidence_centre": float(np.median(negative_confidence)),
        "confidence_spread": float(np.std(negative_confidence)) or 1.0,
    }


def calibrate(validation_pet_scores: np.ndarray, pet_acceptance: float) -> tuple[float, float]:
    """(threshold, scale): the score below which `pet_acceptance` of validation pets fall, and the
    spread of their scores (the squash's temperature)."""
    threshold = float(np.quantile(validation_pet_scores, pet_acceptance))
    scale = float(np.std(validation_pet_scores)) or 1.0
    return threshold, scale


def mahalanobis_layers(
    features: keras.KerasTensor, statistics: Mapping[str, np.ndarray], relative: bool = False
) -> keras.KerasTensor:
    """The (relative) Mahalanobis distance as standard layers. With L L^T a Gaussian's precision
    and z = f L (a Dense layer), the distance to a mean mu is |z|^2 - 2 z.(mu L) + |mu L|^2: one
    whitening per precision, shared by the classes that share it (the 1280x1280 matrix is most of
    what the detector adds to an export), then a Dense of one unit per class."""

    def distances(means: np.ndarray, precision: np.ndarray, name: str) -> list:
        root = np.linalg.cholesky(precision).astype("float32")  # lower: precision = L L^T
        whiten = layers.Dense(root.shape[1], use_bias=False, name=f"{name}_whiten", dtype="float32")
        z = whiten(features)
        whiten.set_weights([root])
        squared = layers.Multiply(name=f"{name}_squared")([z, z])
        norm = layers.Dense(1, use_bias=False, name=f"{name}_norm", dtype="float32")
        z_norm = norm(squared)
        norm.set_weights([np.ones((root.shape[1], 1), "float32")])
        result = []
        for index, centre in enumerate(means.astype("float64") @ root):
            cross = layers.Dense(1, name=f"{name}_cross{index}", dtype="float32")
            cross_term = cross(z)
            cross.set_weights(
                [
                    (-2 * centre[:, np.newaxis]).astype("float32"),
                    np.array([centre @ centre], "float32"),
                ]
            )
            result.append(layers.Add(name=f"{name}_distance{index}")([z_norm, cross_term]))
        return result

    per_class = distances(statistics["means"], statistics["precision"], "neither_classes")
    nearest = layers.Minimum(name="neither_nearest_class")(per_class)
    if not relative:
        return nearest
    [background] = distances(
        statistics["background_mean"], statistics["background_precision"], "neither_pets"
    )
    return layers.Subtract(name="neither_relative_distance")([nearest, background])


def nearest_pet_layers(
    features: keras.KerasTensor, unit: keras.KerasTensor, detector: Mapping[str, Any]
) -> keras.KerasTensor:
    """`nearest_pet_score` as standard layers: one Dense of one unit per banked pet (the cosine
    similarities) and a max over them; the classifier's logit with both signs through a capped ReLU
    (their sum is min(|logit|, cap)); one Dense combining the three with the scalings."""
    bank = detector["bank"]
    similarity = layers.Dense(
        len(bank), use_bias=False, name="neither_pet_similarity", dtype="float32"
    )
    similarities = similarity(unit)
    similarity.set_weights([bank.T.astype("float32")])
    as_sequence = layers.Reshape((len(bank), 1), name="neither_similarities", dtype="float32")
    nearest = layers.GlobalMaxPooling1D(name="neither_nearest_pet", dtype="float32")(
        as_sequence(similarities)
    )
    signed = layers.Dense(2, name="neither_logit_both_signs", dtype="float32")
    signed_logits = signed(features)
    weights, bias = detector["logit_weights"], detector["logit_bias"]
    both_signs = np.stack([weights, -weights], axis=1).astype("float32")
    signed.set_weights([both_signs, np.array([bias, -bias], "float32")])
    confidence_parts = layers.ReLU(
        max_value=detector["confidence_cap"], name="neither_confidence_parts", dtype="float32"
    )(signed_logits)
    terms = layers.Concatenate(name="neither_terms", dtype="float32")([nearest, confidence_parts])
    # distance = 1 - nearest; minus confidence = -(part0 + part1); each scaled as on validation
    distance_scale = 1.0 / detector["distance_spread"]
    confidence_scale = detector["confidence_weight"] / detector["confidence_spread"]
    combine = layers.Dense(1, name="neither_distance_and_confidence", dtype="float32")
    score = combine(terms)
    combine.set_weights(
        [
            np.array([[-distance_scale], [-confidence_scale], [-confidence_scale]], "float32"),
            np.array(
                [
                    (1.0 - detector["distance_centre"]) * distance_scale
                    - detector["confidence_centre"] * confidence_scale
                ],
                "float32",
            ),
        ]
    )
    return score


def with_neither_output(model: keras.Model, detector: dict[str, Any]) -> keras.Model:
    """`model` with a second output, `neither_score` in [0, 1] (0.5 at the calibrated threshold),
    computed from its own features by `detector` (what `fit_detector` returns)."""
    raw = features = feature_model(model).output
    if detector.get("unit_features"):
        features = layers.UnitNormalization(name="neither_unit_features", dtype="float32")(features)
    if detector["kind"] == "nearest_pet":
        score = nearest_pet_layers(raw, features, detector)
    elif detector["kind"] in ("mahalanobis", "relative_mahalanobis"):
        relative = detector["kind"] == "relative_mahalanobis"
        score = mahalanobis_layers(features, detector["statistics"], relative)
    else:
        linear = layers.Dense(1, name="neither_logit", dtype="float32")
        score = linear(features)
        linear.set_weights(
            [
                detector["weights"][:, np.newaxis].astype("float32"),
                np.array([detector["bias"]], "float32"),
            ]
        )
    squash = layers.Dense(1, activation="sigmoid", name="neither_score", dtype="float32")
    neither = squash(score)
    squash.set_weights(
        [
            np.array([[1.0 / detector["scale"]]], "float32"),
            np.array([-detector["threshold"] / detector["scale"]], "float32"),
        ]
    )
    return keras.Model(
        model.input, {"dog_probability": model.output, "neither_score": neither}, name=model.name
    )


def predict_features(
    model: keras.Model, images: np.ndarray, batch_size: int, unit: bool = False
) -> np.ndarray:
    """The features of `images` (an array or a memory map), computed in chunks; `unit`: scaled to
    unit length."""
    from cat_dog_classifier.training import make_dataset  # noqa: PLC0415

    labels = np.zeros(len(images), np.uint8)
    features = feature_model(model).predict(make_dataset(images, labels, batch_size), verbose=0)
    return unit_length(features) if unit else features


def fit_detector(
    model: keras.Model, model_input: Mapping[str, np.ndarray], settings: dict[str, Any]
) -> dict[str, Any]:
    """Fit `settings["detector"]` on the model's features of `fit_pets` training pets (the bank of
    `nearest_pet`; with the training "neither" photos, for `logistic`), and calibrate it on the
    validation pets.

    Returns what `with_neither_output` builds from, and a summary of how it was fitted.
    """
    kind, seed = settings["detector"], int(settings.get("seed", 0))
    if kind not in DETECTORS:
        raise ValueError(f"Unknown detector {kind!r}: use one of {DETECTORS}")
    batch, unit = int(settings.get("batch_size", 64)), bool(settings.get("unit_features", False))
    if kind == "nearest_pet" and not unit:
        raise ValueError("The nearest_pet detector compares directions: set unit_features: true")
    labels = model_input["train_labels"]
    chosen = np.sort(
        np.random.default_rng(seed).permutation(len(labels))[: int(settings["fit_pets"])]
    )
    validation = predict_features(model, model_input["validation_images"], batch)
    detector: dict[str, Any] = {"kind": kind, "unit_features": unit}
    if kind == "nearest_pet":
        pets = model_input["train_images"][chosen]
        detector |= fit_nearest_pet(model, pets, validation, settings)
    elif kind in ("mahalanobis", "relative_mahalanobis"):
        pets = predict_features(model, model_input["train_images"][chosen], batch, unit)
        detector["statistics"] = mahalanobis_statistics(pets, labels[chosen])
    else:
        pets = predict_features(model, model_input["train_images"][chosen], batch, unit)
        others = predict_features(model, model_input["train_neither_images"], batch, unit)
        weights, bias = fit_logistic(pets, others, float(settings["regularisation"]), seed)
        detector |= {"weights": weights, "bias": bias}
    threshold, scale = calibrate(
        detector_score(validation, detector), float(settings["pet_acceptance"])
    )
    return detector | {"threshold": threshold, "scale": scale, "fitted_on_pets": len(chosen)}


def detector_score(features: np.ndarray, detector: Mapping[str, Any]) -> np.ndarray:
    """The detector's score of raw features before the squash, what its layers compute (NumPy):
    higher is farther from the pets."""
    kind = detector["kind"]
    if kind == "nearest_pet":
        return nearest_pet_score(features, detector)
    features = unit_length(features) if detector["unit_features"] else features
    if kind in ("mahalanobis", "relative_mahalanobis"):
        return mahalanobis_distance(
            features, detector["statistics"], relative=kind == "relative_mahalanobis"
        )
    return features.astype("float64") @ detector["weights"] + detector["bias"]
