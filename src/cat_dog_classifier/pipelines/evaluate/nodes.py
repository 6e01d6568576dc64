"""Evaluate each variant on the test split, plot the results and feed the model registry."""

import logging
from collections.abc import Mapping
from typing import Any

import keras
import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn import metrics as skm

from cat_dog_classifier import registry

matplotlib.use("Agg")  # files only, no display
logger = logging.getLogger(__name__)

CLASS_NAMES = ("cat", "dog")


def predict_test_set(
    model: keras.Model, model_input: Mapping[str, np.ndarray], batch_size: int
) -> pd.DataFrame:
    """One row per test image, in the set's order: its path, true label and P(dog)."""
    probabilities = model.predict(
        model_input["test_images"].astype("float32"), batch_size=batch_size, verbose=2
    )  # the test split is small enough to cast at once
    return pd.DataFrame(
        {
            "path": model_input["test_paths"],
            "label": model_input["test_labels"].astype("int64"),
            "dog_probability": probabilities.ravel().astype("float64"),
        }
    )


def compute_test_metrics(
    predictions: pd.DataFrame, threshold: float
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Accuracy, precision, recall, F1 (dog = positive), ROC AUC, log loss and the confusion matrix.

    Returns them as a dict for the JSON report, and the scalars as `test_<name>` MLflow metrics.
    """
    labels = predictions["label"].to_numpy()
    probabilities = predictions["dog_probability"].to_numpy()
    predicted = (probabilities >= threshold).astype(int)
    scores = {
        "accuracy": skm.accuracy_score(labels, predicted),
        "precision": skm.precision_score(labels, predicted, zero_division=0),
        "recall": skm.recall_score(labels, predicted, zero_division=0),
        "f1": skm.f1_score(labels, predicted, zero_division=0),
        "roc_auc": skm.roc_auc_score(labels, probabilities),
        "log_loss": skm.log_loss(labels, probabilities, labels=[0, 1]),
    }
    scores = {name: float(value) for name, value in scores.items()}
    report = {
        **scores,
        "test_images": len(labels),
        "confusion_matrix": skm.confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
    }
    mlflow_metrics = {f"test_{name}": {"value": value, "step": 0} for name, value in scores.items()}
    return report, mlflow_metrics


def epoch_metrics(training_history: list[dict[str, float]]) -> dict[str, list[dict[str, float]]]:
    """The training history as MLflow metric histories (one step per epoch)."""
    names = [name for name in training_history[0] if name != "epoch"]
    return {
        name: [{"step": row["epoch"], "value": row[name]} for row in training_history]
        for name in names
    }


def plot_training_curves(training_history: list[dict[str, float]]) -> Figure:
    """Train vs validation accuracy and loss per epoch."""
    history = pd.DataFrame(training_history)
    figure = Figure(figsize=(10, 4), layout="constrained")
    for ax, metric in zip(figure.subplots(1, 2), ("accuracy", "loss"), strict=True):
        ax.plot(history["epoch"], history[metric], marker="o", label="train")
        ax.plot(history["epoch"], history[f"val_{metric}"], marker="o", label="validation")
        ax.set(xlabel="epoch", ylabel=metric, title=f"Training and validation {metric}")
        ax.legend()
    return figure


def plot_confusion_matrix(test_metrics: dict[str, Any]) -> Figure:
    """The test confusion matrix with counts."""
    figure = Figure(figsize=(4.5, 4), layout="constrained")
    skm.ConfusionMatrixDisplay(
        np.array(test_metrics["confusion_matrix"]), display_labels=CLASS_NAMES
    ).plot(ax=figure.subplots(), colorbar=False)
    return figure


def plot_roc_curve(predictions: pd.DataFrame) -> Figure:
    """ROC curve of P(dog) on the test split, with its AUC."""
    figure = Figure(figsize=(4.5, 4), layout="constrained")
    skm.RocCurveDisplay.from_predictions(
        predictions["label"], predictions["dog_probability"], name="test", ax=figure.subplots()
    )
    return figure


def plot_misclassified(
    predictions: pd.DataFrame,
    model_input: Mapping[str, np.ndarray],
    threshold: float,
    gallery_size: int,
) -> Figure:
    """The most confidently wrong test photos, worst first, with their true label and P(dog)."""
    labels = predictions["label"].to_numpy()
    probabilities = predictions["dog_probability"].to_numpy()
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
    images = model_input["test_images"]  # read once: an .npz mapping reloads on every access
    for ax, index in zip(axes, worst, strict=False):
        image = images[index]
        ax.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
        ax.set_title(f"{CLASS_NAMES[labels[index]]}, P(dog)={probabilities[index]:.2f}", fontsize=9)
    figure.suptitle("Worst misclassified test photos")
    return figure


def register_model(
    model: keras.Model,
    model_input: Mapping[str, np.ndarray],
    test_metrics: dict[str, Any],
    model_params: dict[str, Any],
    registry_params: dict[str, Any],
) -> dict[str, Any]:
    """Log the model (signature + input example) to the variant's run and register a new version."""
    images = model_input["test_images"]
    return registry.log_and_register(
        model,
        input_example=images[:2].astype("float32"),
        registered_model_name=registry_params["model_name"],
        tags={
            "architecture": model_params["architecture"],
            "color_mode": "grayscale" if images.shape[-1] == 1 else "rgb",
            "image_height": images.shape[1],
            "image_width": images.shape[2],
            "test_accuracy": test_metrics["accuracy"],
        },
    )


def collect_metrics(**test_metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The scalar test metrics of every variant, keyed by variant (the file `dvc metrics` reads)."""
    return {
        variant: {name: value for name, value in scores.items() if name != "confusion_matrix"}
        for variant, scores in test_metrics.items()
    }


def plot_model_comparison(metrics: dict[str, dict[str, float]]) -> Figure:
    """Test accuracy, precision, recall, F1 and ROC AUC of every variant side by side."""
    names = ["accuracy", "precision", "recall", "f1", "roc_auc"]
    table = pd.DataFrame(metrics).T[names]
    figure = Figure(figsize=(9, 4.5), layout="constrained")
    ax = figure.subplots()
    table.plot.bar(ax=ax, rot=0, ylim=(max(0.0, table.to_numpy().min() - 0.05), 1.0))
    ax.set(xlabel="variant", ylabel="test score", title="Model variants on the test split")
    ax.legend(loc="lower right")
    return figure


def select_champion(
    registry_params: dict[str, Any], **registered: dict[str, Any]
) -> dict[str, Any]:
    """Move the `champion` alias to the best new version if it passes the quality gate."""
    decision = registry.promote_champion(
        list(registered.values()),
        registered_model_name=registry_params["model_name"],
        min_test_accuracy=registry_params["min_test_accuracy"],
        alias=registry_params["champion_alias"],
    )
    logger.info("Champion decision: %s", decision["reason"])
    return decision
