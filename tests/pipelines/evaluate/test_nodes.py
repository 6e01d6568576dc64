"""Evaluation nodes: metrics checked against counts done by hand, plots drawn from real photos."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from cat_dog_classifier.pipelines.evaluate.nodes import (
    collect_metrics,
    compute_test_metrics,
    epoch_metrics,
    plot_confusion_matrix,
    plot_misclassified,
    plot_model_comparison,
    plot_roc_curve,
    plot_training_curves,
)

# 3 cats, 3 dogs: one cat called dog (0.9), one dog called cat (0.2).
PREDICTIONS = pd.DataFrame(
    {
        "path": [f"PetImages/{k}/{n}.jpg" for k in ("Cat", "Dog") for n in range(3)],
        "label": [0, 0, 0, 1, 1, 1],
        "dog_probability": [0.1, 0.4, 0.9, 0.8, 0.7, 0.2],
    }
)
HISTORY = [
    {"epoch": 1, "accuracy": 0.6, "loss": 0.7, "val_accuracy": 0.65, "val_loss": 0.66},
    {"epoch": 2, "accuracy": 0.7, "loss": 0.6, "val_accuracy": 0.7, "val_loss": 0.62},
]


def test_test_metrics_match_hand_counts():
    report, mlflow_metrics = compute_test_metrics(PREDICTIONS, threshold=0.5)
    # TP = 2 dogs, TN = 2 cats, FP = 1, FN = 1
    assert report["confusion_matrix"] == [[2, 1], [1, 2]]
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["precision"] == pytest.approx(2 / 3)
    assert report["recall"] == pytest.approx(2 / 3)
    assert report["f1"] == pytest.approx(2 / 3)
    # dog/cat pairs with the dog ranked higher: 0.8 and 0.7 beat two cats each, 0.2 beats one
    assert report["roc_auc"] == pytest.approx(5 / 9)
    p = PREDICTIONS["dog_probability"].to_numpy()
    y = PREDICTIONS["label"].to_numpy()
    expected_log_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert report["log_loss"] == pytest.approx(expected_log_loss)
    assert report["test_images"] == 6
    assert set(mlflow_metrics) == {
        "test_accuracy",
        "test_precision",
        "test_recall",
        "test_f1",
        "test_roc_auc",
        "test_log_loss",
    }
    assert mlflow_metrics["test_accuracy"] == {"value": report["accuracy"], "step": 0}


def test_threshold_moves_the_decision():
    report, _ = compute_test_metrics(PREDICTIONS, threshold=0.95)
    assert report["confusion_matrix"] == [[3, 0], [3, 0]]
    assert report["precision"] == 0.0  # no dog predicted: defined as 0, no warning


def test_epoch_metrics_are_histories_with_one_step_per_epoch():
    metrics = epoch_metrics(HISTORY)
    assert metrics["val_loss"] == [{"step": 1, "value": 0.66}, {"step": 2, "value": 0.62}]
    assert set(metrics) == {"accuracy", "loss", "val_accuracy", "val_loss"}


def test_collect_metrics_keeps_the_scalars_of_every_variant():
    report, _ = compute_test_metrics(PREDICTIONS, threshold=0.5)
    metrics = collect_metrics(cnn=report, transfer={**report, "accuracy": 0.99})
    assert list(metrics) == ["cnn", "transfer"]
    assert "confusion_matrix" not in metrics["cnn"]
    assert metrics["transfer"]["accuracy"] == 0.99


def test_plots_are_figures_with_the_expected_content(gray_photos):
    report, _ = compute_test_metrics(PREDICTIONS, threshold=0.5)
    curves = plot_training_curves(HISTORY)
    assert [ax.get_ylabel() for ax in curves.axes] == ["accuracy", "loss"]
    assert all(len(ax.lines) == 2 for ax in curves.axes)  # train and validation
    assert isinstance(plot_confusion_matrix(report), Figure)
    roc = plot_roc_curve(PREDICTIONS)
    assert "AUC = 0.56" in roc.axes[0].get_legend().get_texts()[0].get_text()
    comparison = plot_model_comparison(collect_metrics(cnn=report, transfer=report))
    assert [t.get_text() for t in comparison.axes[0].get_xticklabels()] == ["cnn", "transfer"]

    gallery = plot_misclassified(PREDICTIONS, {"test_images": gray_photos}, 0.5, gallery_size=4)
    titles = [ax.get_title() for ax in gallery.axes if ax.get_title()]
    assert titles == ["cat, P(dog)=0.90", "dog, P(dog)=0.20"]  # the two errors, worst first
    shown = [ax.images[0].get_array() for ax in gallery.axes if ax.images]
    np.testing.assert_array_equal(shown[0], gray_photos[2].squeeze())


def test_gallery_says_when_nothing_is_misclassified(gray_photos):
    perfect = PREDICTIONS.assign(dog_probability=PREDICTIONS["label"] * 0.8 + 0.1)
    gallery = plot_misclassified(perfect, {"test_images": gray_photos}, 0.5, gallery_size=4)
    assert gallery.axes[0].texts[0].get_text() == "no misclassified test photo"
