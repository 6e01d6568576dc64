"""Training nodes: the MLflow curves, the history DVC tracks and the model file's identity."""

import hashlib

import pytest

from cat_dog_classifier.pipelines.train.nodes import (
    describe_training,
    epoch_metrics,
    study_metrics,
    training_history,
)

HISTORY = [
    {"epoch": 1, "accuracy": 0.6, "loss": 0.7, "val_accuracy": 0.65, "val_loss": 0.66},
    {"epoch": 2, "accuracy": 0.7, "loss": 0.6, "val_accuracy": 0.7, "val_loss": 0.62},
]
# As training logs them: with each epoch's speed, which another run on the same data never repeats.
EPOCH_LOGS = [
    {**HISTORY[0], "images_per_second": 812.4},
    {**HISTORY[1], "images_per_second": 795.1},
]


def test_epoch_metrics_are_histories_with_one_step_per_epoch_speed_included():
    metrics = epoch_metrics(EPOCH_LOGS)
    assert metrics["val_loss"] == [{"step": 1, "value": 0.66}, {"step": 2, "value": 0.62}]
    assert metrics["images_per_second"] == [
        {"step": 1, "value": 812.4},
        {"step": 2, "value": 795.1},
    ]
    assert set(metrics) == {"accuracy", "loss", "val_accuracy", "val_loss", "images_per_second"}


def test_the_study_figures_are_the_kept_epochs_not_the_last():
    # Epoch 1 kept (early stopping went on past it): its accuracy and gap, not epoch 3's.
    logs = [
        *EPOCH_LOGS,
        {"epoch": 3, "accuracy": 0.9, "val_accuracy": 0.6, "images_per_second": 800.0},
    ]
    logs[1] = {**logs[1], "val_accuracy": 0.62}
    info = {"best_epoch": 1, "training_seconds": 42.5, "train_photos": 1000}
    figures = study_metrics(logs, info)
    assert {name: values[0]["value"] for name, values in figures.items()} == pytest.approx(
        {
            "train_accuracy": 0.6,
            "train_validation_gap": 0.6 - 0.65,
            "epochs_trained": 3,
            "best_epoch": 1,
            "training_seconds": 42.5,
            # every epoch's photos over the whole time, not the mean of the epochs' speeds
            "training_images_per_second": 3 * 1000 / 42.5,
        }
    )
    assert all(values == [{"step": 0, "value": values[0]["value"]}] for values in figures.values())


def test_the_tracked_history_leaves_the_wall_clock_out():
    assert training_history(EPOCH_LOGS) == HISTORY
    assert training_history(HISTORY) == HISTORY


def test_the_training_run_is_tagged_with_how_it_trained_and_the_files_hash():
    data = b"PK\x03\x04 any bytes"
    info = {"precision": "mixed_bfloat16", "replicas": 1}
    neither = {"neither_detector": "relative_mahalanobis", "neither_threshold": 0.5}
    expected = {**info, **neither, "trained_model_md5": hashlib.md5(data).hexdigest()}
    assert describe_training(data, info, neither) == expected
