"""Train one model variant on its preprocessed image set, and give it its third answer."""

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from cat_dog_classifier.model_files import model_md5

SPLITS = ("train", "validation", "test")
# Per-epoch figures that measure the machine, not the model (training.EpochSpeed adds it): MLflow
# keeps them, the DVC-tracked history leaves them out, so a rerun of the same inputs writes it anew
# byte for byte.
WALL_CLOCK_FIGURES = ("images_per_second",)
logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from keras import Model
else:  # imported where it runs (TensorFlow takes seconds); Kedro reads the hints
    Model = Any


def train_model(
    model_input: Mapping[str, np.ndarray],
    model_params: dict[str, Any],
    training_params: dict[str, Any],
    initial_model: bytes | None = None,
) -> tuple[Model, list[dict[str, float]], dict[str, Any]]:
    """Train one variant on the train split, early-stopped on the validation split, starting from
    the weights of `initial_model`, the file its `starts_from` names, when given (read as bytes:
    training loads it once its distribution strategy exists, which must come first).

    Returns the float32 model (the best validation epoch's weights), its history (one row per
    epoch) and how it was trained (precision, devices, workers, time; a warm start's
    `initial_model_md5`, the `trained_model_md5` of the run that trained its starting model).
    Under `training.strategy: multi_worker` this node runs on the chief alone; another worker
    refuses it (`kedro train-worker` trains there, writing nothing).
    """
    from cat_dog_classifier.training import fit_variant  # noqa: PLC0415 - TensorFlow loads here

    model, epoch_logs, info = fit_variant(model_input, model_params, training_params, initial_model)
    if initial_model is not None:  # a warm start: the run that trained it has this MD5 as tag
        info["initial_model_md5"] = model_md5(initial_model)
    return model, epoch_logs, info


def add_neither_output(
    model: Model, model_input: Mapping[str, np.ndarray], settings: dict[str, Any] | None
) -> tuple[Model, dict[str, Any]]:
    """The model with a second output, `neither_score` ("no cat or dog here" at 0.5 and above),
    fitted on its own features (cat_dog_classifier.neither), or the model unchanged, saying why the
    third answer is off: no detector set for the variant, or no photos of other things to check it.

    Returns the model and a summary of the detector (kind, calibration), or of why there is none.
    """
    if not settings or not settings.get("detector"):
        return model, {"neither": "off: no detector set for this variant"}
    photos = {split: len(model_input.get(f"{split}_neither_images", ())) for split in SPLITS}
    if not all(photos.values()):
        reason = (
            f"off: no photos of other things to fit and check it ({photos} per split; "
            "ingest.neither_source)"
        )
        logger.warning("The third answer, 'no cat or dog', is %s", reason)
        return model, {"neither": reason}
    from cat_dog_classifier.neither import fit_detector, with_neither_output  # noqa: PLC0415

    detector = fit_detector(model, model_input, settings)
    summary = {
        "neither": detector["kind"],
        "neither_unit_features": detector["unit_features"],
        "neither_threshold": detector["threshold"],
        "neither_scale": detector["scale"],
        "neither_fitted_on_pets": detector["fitted_on_pets"],
    }
    if detector["kind"] == "nearest_pet":
        summary |= {
            "neither_looks": list(settings.get("looks") or []),
            "neither_confidence_weight": detector["confidence_weight"],
        }
    logger.info("The third answer, 'no cat or dog': %s", summary)
    return with_neither_output(model, detector), summary


def epoch_metrics(epoch_logs: list[dict[str, float]]) -> dict[str, list[dict[str, float]]]:
    """Every per-epoch figure, speed included, as MLflow metric histories (one step per epoch)."""
    names = [name for name in epoch_logs[0] if name != "epoch"]
    return {
        name: [{"step": row["epoch"], "value": row[name]} for row in epoch_logs] for name in names
    }


def study_metrics(
    epoch_logs: list[dict[str, float]], training_info: dict[str, Any]
) -> dict[str, list[dict[str, float]]]:
    """What the study compares variants on, beside evaluation's validation and test accuracy, as
    MLflow metrics: the kept epoch's training accuracy and its gap to validation accuracy (the
    overfitting dropout and augmentation are about), the epochs trained and the one kept, the
    time, and the speed over the whole of it: the photos trained (every epoch's) per second of
    training time. Not the mean of the per-epoch speeds: transfer's head epochs on cached features
    run a hundred times faster than its fine-tuning's, and would swamp them."""
    kept = next(row for row in epoch_logs if row["epoch"] == training_info["best_epoch"])
    figures = {
        "train_accuracy": kept["accuracy"],
        "train_validation_gap": kept["accuracy"] - kept["val_accuracy"],
        "epochs_trained": len(epoch_logs),
        "best_epoch": kept["epoch"],
        "training_seconds": training_info["training_seconds"],
        "training_images_per_second": (
            training_info["train_photos"] * len(epoch_logs) / training_info["training_seconds"]
        ),
    }
    return {name: [{"step": 0, "value": float(value)}] for name, value in figures.items()}


def training_history(epoch_logs: list[dict[str, float]]) -> list[dict[str, float]]:
    """The history DVC tracks: each epoch's figures but those of the wall clock."""
    return [
        {name: value for name, value in row.items() if name not in WALL_CLOCK_FIGURES}
        for row in epoch_logs
    ]


def describe_training(
    model_file: bytes, training_info: dict[str, Any], neither: dict[str, Any]
) -> dict[str, Any]:
    """Tags for the training run: how it trained (the precision `auto` chose...), its third answer,
    and the MD5 of the model file it wrote, by which evaluation finds the run."""
    return {**training_info, **neither, "trained_model_md5": model_md5(model_file)}
