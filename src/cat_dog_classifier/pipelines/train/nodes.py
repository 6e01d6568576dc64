"""Train one model variant on its preprocessed image set."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from cat_dog_classifier.model_files import model_md5

if TYPE_CHECKING:
    from keras import Model
else:  # imported where it runs (TensorFlow takes seconds); Kedro reads the hints
    Model = Any


def train_model(
    model_input: Mapping[str, np.ndarray],
    model_params: dict[str, Any],
    training_params: dict[str, Any],
) -> tuple[Model, list[dict[str, float]]]:
    """Train one variant on the train split, early-stopped on the validation split.

    Returns the model (best validation weights) and its history, one row per epoch.
    """
    from cat_dog_classifier.training import fit_variant  # noqa: PLC0415 - TensorFlow loads here

    return fit_variant(model_input, model_params, training_params)


def epoch_metrics(training_history: list[dict[str, float]]) -> dict[str, list[dict[str, float]]]:
    """The training history as MLflow metric histories (one step per epoch)."""
    names = [name for name in training_history[0] if name != "epoch"]
    return {
        name: [{"step": row["epoch"], "value": row[name]} for row in training_history]
        for name in names
    }


def describe_model_file(model_file: bytes) -> dict[str, str]:
    """Tags for the training run: the MD5 of the model file it wrote (evaluation finds it by it)."""
    return {"trained_model_md5": model_md5(model_file)}
