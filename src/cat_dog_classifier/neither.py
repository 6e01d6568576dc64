"""The third answer, "no cat or dog here": a detector on a trained model's own features, fitted on
the photos it was trained on (and, for the trained detector, photos of other things), calibrated on
validation photos, and built into the model as a second output, `neither_score`, next to P(dog).

Three detectors, compared in benchmarks/neither.py:
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
DETECTORS = ("mahalanobis", "relative_mahalanobis", "logistic")


def feature_model(model: keras.Model) -> keras.Model:
    """The model up to the features its classifier reads: the backbone's pooled features
    (`transfer`), or the hidden Dense layer's activations (the CNNs)."""
    names = [layer.name for layer in model.layers]
    if "pooled_features" in names:  # transfer: the head reads the pooled backbone features
        return keras.Model(model.input, model.get_layer("pooled_features").output)
    return keras.Model(model.input, model.get_layer("dog_probability").input)


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


def with_neither_output(model: keras.Model, detector: dict[str, Any]) -> keras.Model:
    """`model` with a second output, `neither_score` in [0, 1] (0.5 at the calibrated threshold),
    computed from its own features by `detector` (what `fit_detector` returns)."""
    features = feature_model(model).output
    if detector.get("unit_features"):
        features = layers.UnitNormalization(name="neither_unit_features", dtype="float32")(features)
    if detector["kind"] in ("mahalanobis", "relative_mahalanobis"):
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
    """Fit `settings["detector"]` on the model's features of `fit_pets` training pets (and of the
    training "neither" photos, for `logistic`), and calibrate it on the validation pets.

    Returns what `with_neither_output` builds from, and a summary of how it was fitted.
    """
    kind, seed = settings["detector"], int(settings.get("seed", 0))
    if kind not in DETECTORS:
        raise ValueError(f"Unknown detector {kind!r}: use one of {DETECTORS}")
    batch, unit = int(settings.get("batch_size", 64)), bool(settings.get("unit_features", False))
    labels = model_input["train_labels"]
    chosen = np.sort(
        np.random.default_rng(seed).permutation(len(labels))[: int(settings["fit_pets"])]
    )
    pets = predict_features(model, model_input["train_images"][chosen], batch, unit)
    detector: dict[str, Any] = {"kind": kind, "unit_features": unit}
    if kind in ("mahalanobis", "relative_mahalanobis"):
        detector["statistics"] = mahalanobis_statistics(pets, labels[chosen])

        def score(features: np.ndarray) -> np.ndarray:
            relative = kind == "relative_mahalanobis"
            return mahalanobis_distance(features, detector["statistics"], relative)
    else:
        others = predict_features(model, model_input["train_neither_images"], batch, unit)
        weights, bias = fit_logistic(pets, others, float(settings["regularisation"]), seed)
        detector |= {"weights": weights, "bias": bias}

        def score(features: np.ndarray) -> np.ndarray:
            return features.astype("float64") @ weights + bias

    validation = predict_features(model, model_input["validation_images"], batch, unit)
    threshold, scale = calibrate(score(validation), float(settings["pet_acceptance"]))
    return detector | {"threshold": threshold, "scale": scale, "fitted_on_pets": len(chosen)}
