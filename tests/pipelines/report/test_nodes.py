"""The study's report from real-shaped training histories and evaluation metrics."""

import pandas as pd
import pytest
from matplotlib.figure import Figure

from cat_dog_classifier.pipelines.report.nodes import (
    plot_study_curves,
    study_table,
    technique_effects,
)


def history(val_accuracies: list[float], gap: float) -> list[dict[str, float]]:
    return [
        {
            "epoch": epoch,
            "accuracy": value + gap,
            "val_accuracy": value,
            "loss": 1 - value - gap,
            "val_loss": 1 - value,
        }
        for epoch, value in enumerate(val_accuracies, start=1)
    ]


HISTORIES = {
    "cnn": history([0.70, 0.80, 0.78], gap=0.10),  # kept: epoch 2
    "cnn_dropout": history([0.70, 0.82, 0.84, 0.84], gap=0.04),  # kept: epoch 3 (first best)
}
METRICS = {
    "cnn": {"validation": {"accuracy": 0.801}, "test": {"accuracy": 0.79}},
    "cnn_dropout": {"validation": {"accuracy": 0.842}, "test": {"accuracy": 0.83}},
}
MONITOR = {"training": {"early_stopping": {"monitor": "val_accuracy"}}}
VARIANTS = {"cnn": MONITOR, "cnn_dropout": MONITOR}
PUBLISHED = {"cnn": 0.78, "cnn_dropout": 0.84, "transfer": 0.99}


@pytest.fixture
def table() -> pd.DataFrame:
    return study_table(HISTORIES, METRICS, VARIANTS, PUBLISHED)


def test_the_table_reads_the_kept_epoch_and_evaluations_figures(table: pd.DataFrame):
    rows = table.set_index("variant")
    assert list(rows.index) == ["cnn", "cnn_dropout"]
    assert rows.loc["cnn", "best_epoch"] == 2 and rows.loc["cnn_dropout", "best_epoch"] == 3
    assert rows.loc["cnn", "train_accuracy"] == pytest.approx(0.90)  # epoch 2's, not the last
    assert rows.loc["cnn", "train_validation_gap"] == pytest.approx(0.10)
    assert rows.loc["cnn_dropout", "validation_accuracy"] == 0.842  # evaluation's, not Keras'
    assert rows.loc["cnn_dropout", "test_accuracy"] == 0.83
    assert rows["epochs_trained"].tolist() == [3, 4]
    assert rows["published_validation_accuracy"].tolist() == [0.78, 0.84]


def test_a_loss_monitor_keeps_the_lowest_loss_epoch():
    by_loss = {"cnn": {"training": {"early_stopping": {"monitor": "val_loss"}}}}
    rows = zip(HISTORIES["cnn"], [0.5, 0.6, 0.4], strict=True)
    losses = [{**row, "val_loss": loss} for row, loss in rows]
    table = study_table({"cnn": losses}, METRICS, by_loss, PUBLISHED)
    assert table.loc[0, "best_epoch"] == 3


def test_each_technique_is_the_variant_with_it_against_the_one_without(table: pd.DataFrame):
    techniques = {
        "dropout": {"without": "cnn", "with": "cnn_dropout"},
        "augmentation": {"without": "cnn_dropout", "with": "cnn_dropout_aug"},  # not trained
    }
    effects = technique_effects(table, techniques)
    assert effects["technique"].tolist() == ["dropout"]
    [row] = effects.to_dict("records")
    assert row["validation_accuracy_points"] == pytest.approx(4.1)
    assert row["test_accuracy_points"] == pytest.approx(4.0)
    assert row["train_validation_gap_points"] == pytest.approx(-6.0)  # less overfitting
    assert row["epochs_trained_added"] == 1


def test_the_curves_are_one_figure_with_every_variant(table: pd.DataFrame):
    figure = plot_study_curves(HISTORIES, table)
    assert isinstance(figure, Figure)
    accuracy, loss = figure.axes
    labels = [line.get_label() for line in accuracy.get_lines()]
    assert {"cnn", "cnn_dropout"} <= set(labels)
    # per variant: training (dashed), validation (solid), the kept epoch (a dot)
    assert len(accuracy.get_lines()) == len(loss.get_lines()) == 3 * len(HISTORIES)
