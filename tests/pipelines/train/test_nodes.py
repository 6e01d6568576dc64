"""Training nodes: the MLflow curves, the history DVC tracks and the model file's identity."""

import hashlib

from cat_dog_classifier.pipelines.train.nodes import (
    describe_training,
    epoch_metrics,
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


def test_the_tracked_history_leaves_the_wall_clock_out():
    assert training_history(EPOCH_LOGS) == HISTORY
    assert training_history(HISTORY) == HISTORY


def test_the_training_run_is_tagged_with_how_it_trained_and_the_files_hash():
    data = b"PK\x03\x04 any bytes"
    info = {"precision": "mixed_bfloat16", "replicas": 1}
    neither = {"neither_detector": "relative_mahalanobis", "neither_threshold": 0.5}
    expected = {**info, **neither, "trained_model_md5": hashlib.md5(data).hexdigest()}
    assert describe_training(data, info, neither) == expected
