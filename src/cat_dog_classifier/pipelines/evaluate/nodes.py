"""Evaluate each variant on the validation and test splits, plot the results and register it."""

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cat_dog_classifier.datasets.npz_dataset import release_pages
from cat_dog_classifier.labels import LABEL_CODES, LABELS, NEITHER
from cat_dog_classifier.model_files import model_md5

if TYPE_CHECKING:
    from keras import Model
    from matplotlib.figure import Figure
else:  # imported where they run (TensorFlow and matplotlib take seconds); Kedro reads the hints
    Model = Figure = Any

EVALUATED_SPLITS = ("validation", "test")  # validation chooses the champion, test reports it
_PREDICTION_CHUNK = 1024  # images cast to float32 at a time, never a whole split


def predict(model: Model, model_input: Mapping[str, np.ndarray], batch_size: int) -> pd.DataFrame:
    """One row per validation and test photo, in the set's order, pets then photos of other things
    ("neither", label 2): split, path, label, P(dog) and, where the model has its third answer,
    `neither_score`."""
    frames = []
    for split in EVALUATED_SPLITS:
        for kind, label in (("", None), ("neither_", LABEL_CODES[NEITHER])):
            if f"{split}_{kind}images" not in model_input:
                continue
            images = model_input[f"{split}_{kind}images"]  # read once: a mapping may reload
            outputs = _predict_in_chunks(model, images, batch_size)
            labels = (
                model_input[f"{split}_labels"] if label is None else np.full(len(images), label)
            )
            frames.append(
                pd.DataFrame(
                    {
                        "split": split,
                        "path": model_input[f"{split}_{kind}paths"],
                        "label": labels.astype("int64"),
                        **outputs,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def _predict_in_chunks(model: Model, images: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
    """P(dog) (and `neither_score`, if the model has it) for `images`, a chunk cast at a time (the
    pages of a memory map released after each)."""
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(images), _PREDICTION_CHUNK):
        outputs = model.predict(
            images[start : start + _PREDICTION_CHUNK].astype("float32"),
            batch_size=batch_size,
            verbose=0,
        )
        release_pages(images)
        if not isinstance(outputs, dict):
            outputs = {"dog_probability": outputs}
        for name, values in outputs.items():
            chunks.setdefault(name, []).append(np.asarray(values).ravel())
    if not chunks:  # no image: the columns still exist
        names = ["dog_probability", *(["neither_score"] if len(model.outputs) > 1 else [])]
        return {name: np.empty(0, "float64") for name in names}
    return {name: np.concatenate(values).astype("float64") for name, values in chunks.items()}


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
        rows = predictions[(predictions["split"] == split) & (predictions["label"] < 2)]
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
        report[split] |= _neither_metrics(predictions[predictions["split"] == split])
    mlflow_metrics = {
        f"{split}_{name}": [{"value": value, "step": 0}]
        for split, scores in report.items()
        for name, value in scores.items()
        if name not in ("images", "confusion_matrix", "neither_images")
    }
    return report, mlflow_metrics


NEITHER_THRESHOLD = 0.5  # the detector is calibrated so that its threshold sits here


def _neither_metrics(rows: pd.DataFrame) -> dict[str, float]:
    """How the third answer does on a split, if the model has it and there are photos of other
    things: AUROC of `neither_score` (other things against pets), the share of those photos answered
    "no cat or dog" and the share of pets wrongly answered so."""
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    if "neither_score" not in rows or not (rows["label"] == LABEL_CODES[NEITHER]).any():
        return {}
    is_other = (rows["label"] == LABEL_CODES[NEITHER]).to_numpy()
    rejected = (rows["neither_score"] >= NEITHER_THRESHOLD).to_numpy()
    return {
        "neither_roc_auc": float(roc_auc_score(is_other, rows["neither_score"])),
        "neither_rejected": float(rejected[is_other].mean()),
        "pets_rejected": float(rejected[~is_other].mean()),
        "neither_images": int(is_other.sum()),
    }


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
    """ROC curve of P(dog) on the test split's pets, with its AUC."""
    from matplotlib.figure import Figure  # noqa: PLC0415
    from sklearn.metrics import RocCurveDisplay  # noqa: PLC0415

    test = _test_pets(predictions)
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
    """The most confidently wrong test pets, worst first, with their true label and P(dog)."""
    test = _test_pets(predictions)
    labels = test["label"].to_numpy()
    probabilities = test["dog_probability"].to_numpy()
    wrong = np.flatnonzero((probabilities >= threshold).astype(int) != labels)
    worst = wrong[np.argsort(-np.abs(probabilities[wrong] - labels[wrong]))][:gallery_size]
    titles = [f"{LABELS[labels[i]]}, P(dog)={probabilities[i]:.2f}" for i in worst]
    # The test pets are in the set's order: row i of `test` is image i of test_images.
    return _gallery(
        model_input["test_images"],
        worst,
        titles,
        "Worst misclassified test photos",
        "no misclassified test photo",
    )


def plot_neither_scores(predictions: pd.DataFrame) -> Figure:
    """How the third answer separates pets from other things: the histogram of `neither_score` on
    the test split, with the threshold."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.subplots()
    test = predictions[predictions["split"] == "test"]
    if "neither_score" not in test or test["neither_score"].isna().all():
        ax.axis("off")
        ax.text(0.5, 0.5, "no third answer for this variant", ha="center", va="center")
        return figure
    bins = np.linspace(0, 1, 41)
    is_other = test["label"] == LABEL_CODES[NEITHER]
    for name, rows in (("cats and dogs", test[~is_other]), ("neither", test[is_other])):
        ax.hist(rows["neither_score"], bins=bins, alpha=0.6, density=True, label=name)
    ax.axvline(NEITHER_THRESHOLD, color="black", linestyle="--", label="threshold")
    ax.set(xlabel="neither_score", ylabel="density", title="No cat or dog: test split")
    ax.legend()
    return figure


def plot_neither_mistakes(
    predictions: pd.DataFrame, model_input: Mapping[str, np.ndarray], gallery_size: int
) -> Figure:
    """The third answer's worst test mistakes of both kinds: pets answered "no cat or dog" (highest
    score first), then other things taken for pets (lowest first)."""
    test = predictions[predictions["split"] == "test"]
    if "neither_score" not in test or test["neither_score"].isna().all():
        return _gallery(np.empty((0, 1, 1, 1)), [], [], "", "no third answer for this variant")
    pets, others = _test_pets(predictions), test[test["label"] == LABEL_CODES[NEITHER]]
    half = gallery_size // 2
    pet_scores, other_scores = pets["neither_score"].to_numpy(), others["neither_score"].to_numpy()
    rejected = np.flatnonzero(pet_scores >= NEITHER_THRESHOLD)
    rejected = rejected[np.argsort(-pet_scores[rejected])][:half]
    accepted = np.flatnonzero(other_scores < NEITHER_THRESHOLD)
    accepted = accepted[np.argsort(other_scores[accepted])][: gallery_size - len(rejected)]
    images = np.concatenate(
        [model_input["test_images"][rejected], model_input["test_neither_images"][accepted]]
    )
    titles = [f"{LABELS[pets['label'].iloc[i]]}, score {pet_scores[i]:.2f}" for i in rejected]
    titles += [f"other, score {other_scores[i]:.2f}" for i in accepted]
    return _gallery(
        images,
        range(len(images)),
        titles,
        "Third answer: pets rejected, other things accepted",
        "no mistake of the third answer on the test split",
    )


def _test_pets(predictions: pd.DataFrame) -> pd.DataFrame:
    return predictions[(predictions["split"] == "test") & (predictions["label"] < 2)]


def _gallery(images: np.ndarray, indices: Any, titles: list[str], title: str, empty: str) -> Figure:
    """A grid of photos (gray or RGB) with their titles, or a note when there is none."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    indices = list(indices)
    columns = 4
    rows = max(1, -(-len(indices) // columns))
    figure = Figure(figsize=(2.5 * columns, 2.8 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    if not indices:
        axes[0].text(0.5, 0.5, empty, ha="center", va="center")
    for ax, index, text in zip(axes, indices, titles, strict=False):
        image = images[index]
        ax.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
        ax.set_title(text, fontsize=9)
    if title:
        figure.suptitle(title)
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
) -> tuple[dict[str, Any], dict[str, str]]:
    """Register the model file (a no-op if these bytes are registered already).

    Returns the variant's evaluation record (its identity, data, input and metrics: what DVC
    tracks, so nothing a run or the registry hands out) and, for the variant's MLflow run, the
    registry version and the run that logged it.
    """
    from cat_dog_classifier import registry  # noqa: PLC0415 - MLflow and TensorFlow load here

    md5 = model_md5(model_file)
    training_run = registry.find_training_run(variant, md5)
    lineage = training_run.data.tags if training_run else {}
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
        # The third answer: which output, and the threshold it is calibrated on (None: none).
        "neither": (
            {"output": "neither_score", "threshold": NEITHER_THRESHOLD}
            if isinstance(model.output, dict) and "neither_score" in model.output
            else None
        ),
        # The data the model was trained on, as its training run recorded it under `dvc repro`
        # (None: the tracking store does not know that run, or it ran outside DVC).
        "data_md5": lineage.get("data_md5"),
    }
    # The version carries where it comes from: its training run, and that run's commit.
    identities = {
        "training_run_id": training_run.info.run_id if training_run else None,
        "git_commit": lineage.get("git_commit"),
        "git_dirty": lineage.get("git_dirty"),
    }
    registered = registry.register_model_file(
        model_file,
        registered_model_name,
        registry.version_tags(record | identities),
        input_example=model_input["test_images"][:2].astype("float32"),
        model=model,
    )
    return record, {
        "registered_version": registered["version"],
        "registered_run_id": registered["run_id"],
    }


def _scalars(scores: dict[str, Any]) -> dict[str, float]:
    return {name: value for name, value in scores.items() if name != "confusion_matrix"}
