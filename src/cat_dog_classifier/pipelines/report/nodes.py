"""The study's report, from what training and evaluation wrote (DVC-tracked, so a rerun writes the
same bytes): the original study's table, the effect of each technique, one figure of every
variant's curves. Times and speeds are the machine's, not the models': they are MLflow's alone."""

import logging
from typing import TYPE_CHECKING, Any

import pandas as pd

from cat_dog_classifier.history import kept_epoch

if TYPE_CHECKING:
    from matplotlib.figure import Figure
else:  # imported where a figure is drawn (matplotlib takes a second); Kedro reads the hints
    Figure = Any

logger = logging.getLogger(__name__)

# What each technique's effect is measured on, in points of accuracy.
EFFECT_FIGURES = ("train_accuracy", "validation_accuracy", "test_accuracy", "train_validation_gap")


def collect_by_variant(**values: Any) -> dict[str, Any]:
    """One input per variant, keyed by variant (in the variant list's order)."""
    return values


def study_table(
    histories: dict[str, list[dict[str, float]]],
    metrics: dict[str, dict[str, Any]],
    variants: dict[str, dict[str, Any]],
    published: dict[str, float],
) -> pd.DataFrame:
    """One row per variant, as the original study's table: accuracy on the training photos at the
    kept epoch, on validation and test (evaluation's), their train-validation gap (the overfitting
    dropout and augmentation are about; Keras' figures of that epoch), the epochs trained and the
    one kept, and the published validation accuracy."""
    rows = []
    for name, history in histories.items():
        kept = kept_epoch(history, variants[name]["training"]["early_stopping"]["monitor"])
        row = next(row for row in history if row["epoch"] == kept)
        rows.append(
            {
                "variant": name,
                "train_accuracy": row["accuracy"],
                "validation_accuracy": metrics[name]["validation"]["accuracy"],
                "test_accuracy": metrics[name]["test"]["accuracy"],
                "train_validation_gap": row["accuracy"] - row["val_accuracy"],
                "epochs_trained": len(history),
                "best_epoch": kept,
                "published_validation_accuracy": published.get(name),
            }
        )
    return pd.DataFrame(rows)


def technique_effects(table: pd.DataFrame, techniques: dict[str, dict[str, str]]) -> pd.DataFrame:
    """Per technique, what the variant with it gained over the variant without it, in points (a
    smaller gap is less overfitting). A technique whose two variants are not both in the table is
    left out, with a warning."""
    by_variant = table.set_index("variant")
    rows = []
    for technique, pair in techniques.items():
        missing = [pair[side] for side in ("without", "with") if pair[side] not in by_variant.index]
        if missing:
            logger.warning("Report: %s left out (%s not trained)", technique, ", ".join(missing))
            continue
        change = by_variant.loc[pair["with"]] - by_variant.loc[pair["without"]]
        rows.append(
            {
                "technique": technique,
                "without": pair["without"],
                "with": pair["with"],
                **{f"{name}_points": 100 * change[name] for name in EFFECT_FIGURES},
                "epochs_trained_added": int(change["epochs_trained"]),
            }
        )
    columns = ["technique", "without", "with", *(f"{n}_points" for n in EFFECT_FIGURES)]
    return pd.DataFrame(rows, columns=[*columns, "epochs_trained_added"])


def plot_study_curves(histories: dict[str, list[dict[str, float]]], table: pd.DataFrame) -> Figure:
    """The study's training graphs in one figure: per variant (one colour each), accuracy and loss
    per epoch on the training photos (dashed) and on validation (solid), the kept epoch marked."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(12, 4.8), layout="constrained")
    axes = figure.subplots(1, 2)
    kept = table.set_index("variant")["best_epoch"]
    palette = [f"C{i}" for i in range(len(histories))]  # matplotlib's default colour cycle
    for colour, (name, rows) in zip(palette, histories.items(), strict=True):
        history = pd.DataFrame(rows).set_index("epoch")
        for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
            ax.plot(history.index, history[metric], "--", color=colour, alpha=0.7)
            ax.plot(history.index, history[f"val_{metric}"], "-", color=colour, label=name)
            ax.plot(kept[name], history.loc[kept[name], f"val_{metric}"], "o", color=colour)
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        ax.set(xlabel="epoch", ylabel=metric, title=f"{metric.capitalize()} per epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(title="validation (solid), training (dashed), kept epoch (dot)", fontsize=8)
    return figure
