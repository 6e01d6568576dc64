"""Evaluate each variant on the validation and test splits, plot the results and register it."""

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cat_dog_classifier.labels import LABELS
from cat_dog_classifier.model_files import model_md5

if TYPE_CHECKING:
    from keras import Model
    from matplotlib.figure import Figure
else:  # imported where they run (TensorFlow and matplotlib take seconds); Kedro reads the hints
    Model = Figure = Any

EVALUATED_SPLITS = ("validation", "test")  # validation chooses the champion, test reports it
_PREDICTION_CHUNK = 1024  # images cast to float32 at a time, never a whole split


def predict(model: Model, model_input: Mapping[str, np.ndarray], batch_size: int) -> pd.DataFrame:
    """One row per validation and test image, in the set's order: split, path, label and P(dog)."""
    frames = []
    for split in EVALUATED_SPLITS:
        images = model_input[f"{split}_images"]  # read once: an .npz mapping reloads on access
        probabilities = [
            model.predict(
                images[start : start + _PREDICTION_CHUNK].astype("float32"),
                batch_size=batch_size,
                verbose=0,
            ).ravel()
            for start in range(0, len(images), _PREDICTION_CHUNK)
        ]
        frames.append(
            pd.DataFrame(
                {
                    "split": split,
                    "path": model_input[f"{split}_paths"],
                    "label": model_input[f"{split}_labels"].astype("int64"),
                    "dog_probability": np.concatenate(probabilities).astype("float64"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def compute_metrics(
    predictions: pd.DataFrame, threshold: float
) -> tuple[dict[str, Any], dict[str, list[dict[str, float]]]]:
    """Accuracy, precision, recall, F1 (dog = positive), ROC AUC, log loss and the confusion matrix
    of each evaluated split.

    Returns them as a report (one key per split, what `dvc metrics show` prints) and the scalars as
    `<split>_<name>` MLflow metrics.
    """
    from sklearn import metrics as skm  # noqa: PLC0415 - only evaluation needs scikit-learn

    report: dict[str, Any] = {}
    for split in EVALUATED_SPLITS:
        rows = predictions[predictions["split"] == split]
        labels = rows["label"].to_numpy()
        probabilities = rows["dog_probability"].to_numpy()
        predicted = (probabilities >= threshold).astype(int)
        scores = {
            "accuracy": skm.accuracy_score(labels, predicted),
            "precision": skm.precision_score(labels, predicted, zero_division=0),
            "recall": skm.recall_score(labels, predicted, zero_division=0),
            "f1": skm.f1_score(labels, predicted, zero_division=0),
            "roc_auc": skm.roc_auc_score(labels, probabilities),
            "log_loss": skm.log_loss(labels, probabilities, labels=[0, 1]),
        }
        report[split] = {name: float(value) for name, value in scores.items()} | {
            "images": len(labels),
            "confusion_matrix": skm.confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
        }
    mlflow_metrics = {
        f"{split}_{name}": [{"value": value, "step": 0}]
        for split, scores in report.items()
        for name, value in scores.items()
        if name not in ("images", "confusion_matrix")
    }
    return report, mlflow_metrics


def plot_training_curves(training_history: list[dict[str, float]]) -> Figure:
    """Train vs validation accuracy and loss per epoch."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    history = pd.DataFrame(training_history)
    figure = Figure(figsize=(10, 4), layout="constrained")
    for ax, metric in zip(figure.subplots(1, 2), ("accuracy", "loss"), strict=True):
        ax.plot(history["epoch"], history[metric], marker="o", label="train")
        ax.plot(history["epoch"], history[f"val_{metric}"], marker="o", label="validation")
        ax.set(xlabel="epoch", ylabel=metric, title=f"Training and validation {metric}")
        ax.legend()
    return figure


def plot_confusion_matrix(metrics: dict[str, Any]) -> Figure:
    """The test confusion matrix with counts."""
    from matplotlib.figure import Figure  # noqa: PLC0415
    from sklearn.metrics import ConfusionMatrixDisplay  # noqa: PLC0415

    figure = Figure(figsize=(4.5, 4), layout="constrained")
    ConfusionMatrixDisplay(
        np.array(metrics["test"]["confusion_matrix"]), display_labels=LABELS
    ).plot(ax=figure.subplots(), colorbar=False)
    return figure


def plot_roc_curve(predictions: pd.DataFrame) -> Figure:
    """ROC curve of P(dog) on the test split, with its AUC."""
    from matplotlib.figure import Figure  # noqa: PLC0415
    from sklearn.metrics import RocCurveDisplay  # noqa: PLC0415

    test = predictions[predictions["split"] == "test"]
    figure = Figure(figsize=(4.5, 4), layout="constrained")
    RocCurveDisplay.from_predictions(
        test["label"], test["dog_probability"], name="test", ax=figure.subplots()
    )
    return figure


def plot_misclassified(
    predictions: pd.DataFrame,
    model_input: Mapping[str, np.ndarray],
    threshold: float,
    gallery_size: int,
) -> Figure:
    """The most confidently wrong test photos, worst first, with their true label and P(dog)."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    test = predictions[predictions["split"] == "test"]
    labels = test["label"].to_numpy()
    probabilities = test["dog_probability"].to_numpy()
    wrong = np.flatnonzero((probabilities >= threshold).astype(int) != labels)
    worst = wrong[np.argsort(-np.abs(probabilities[wrong] - labels[wrong]))][:gallery_size]
    columns = 4
    rows = max(1, -(-len(worst) // columns))
    figure = Figure(figsize=(2.5 * columns, 2.8 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    if len(worst) == 0:
        axes[0].text(0.5, 0.5, "no misclassified test photo", ha="center", va="center")
    images = model_input["test_images"]  # in the predictions' order (test rows, set order)
    for ax, index in zip(axes, worst, strict=False):
        image = images[index]
        ax.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
        ax.set_title(f"{LABELS[labels[index]]}, P(dog)={probabilities[index]:.2f}", fontsize=9)
    figure.suptitle("Worst misclassified test photos")
    return figure


def fingerprint_splits(image_splits: pd.DataFrame) -> str:
    """SHA-256 of what the metrics are measured on: each validation and test photo's content hash,
    label and split. Two evaluations are comparable exactly when their fingerprints are equal."""
    rows = image_splits[image_splits["split"].isin(EVALUATED_SPLITS)]
    lines = sorted(f"{r.split} {r.label} {r.sha256}" for r in rows.itertuples(index=False))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def register_model(
    model: Model,
    model_file: bytes,
    model_input: Mapping[str, np.ndarray],
    *,
    metrics: dict[str, Any],
    split_sha256: str,
    architecture: str,
    image: dict[str, Any],
    registered_model_name: str,
    variant: str,
) -> dict[str, Any]:
    """Register the model file (a no-op if these bytes are registered already) and return the
    variant's evaluation record: its registry version, identity, lineage, input and metrics."""
    from cat_dog_classifier import registry  # noqa: PLC0415 - MLflow and TensorFlow load here

    md5 = model_md5(model_file)
    training_run = registry.find_training_run(variant, md5)
    record = {
        "variant": variant,
        "architecture": architecture,
        "registered_model_name": registered_model_name,
        "model_md5": md5,
        "split_sha256": split_sha256,
        "input": {
            "height": int(image["height"]),
            "width": int(image["width"]),
            "channels": int(model_input["test_images"].shape[-1]),
            "color_mode": image["color_mode"],
            "interpolation": image["interpolation"],
        },
        "validation": _scalars(metrics["validation"]),
        "test": _scalars(metrics["test"]),
        # Where the model comes from, as its training run recorded it (None: the tracking store
        # does not know that run).
        "training_run_id": training_run.info.run_id if training_run else None,
        **{
            key: training_run.data.tags.get(key) if training_run else None
            for key in ("git_commit", "git_dirty", "data_md5")
        },
    }
    registered = registry.register_model_file(
        model_file,
        registered_model_name,
        registry.version_tags(record),
        input_example=model_input["test_images"][:2].astype("float32"),
        model=model,
    )
    return record | {"version": registered["version"], "registered_run_id": registered["run_id"]}


def _scalars(scores: dict[str, Any]) -> dict[str, float]:
    return {name: value for name, value in scores.items() if name != "confusion_matrix"}
