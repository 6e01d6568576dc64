"""Choose the champion among the evaluated variants, record it, point the registry's alias at it.

The decision is made from DVC-tracked inputs (each variant's evaluation record and model file) and
one outside input, the registry's current champion, which the decision records. The champion's
model file is written byte for byte as a DVC output, so the export converts exactly what dvc.lock
names, whatever happens to the registry later.
"""

import logging
from typing import TYPE_CHECKING, Any

import pandas as pd

from cat_dog_classifier.model_files import model_md5

if TYPE_CHECKING:
    from matplotlib.figure import Figure
else:  # imported where a figure is drawn (matplotlib takes a second); Kedro reads the hints
    Figure = Any

logger = logging.getLogger(__name__)

COMPARED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def collect_evaluations(**evaluations: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every variant's evaluation record, by variant (the candidates)."""
    return evaluations


def plot_model_comparison(candidates: dict[str, dict[str, Any]]) -> Figure:
    """Validation and test scores of every variant side by side."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    for ax, split in zip(axes, ("validation", "test"), strict=True):
        table = pd.DataFrame({name: record[split] for name, record in candidates.items()}).T
        table = table[list(COMPARED_METRICS)]
        table.plot.bar(ax=ax, rot=0, legend=split == "test")
        ax.set(xlabel="variant", ylabel="score", title=f"{split.capitalize()} split")
    lowest = min(
        record[split][name]
        for record in candidates.values()
        for split in ("validation", "test")
        for name in COMPARED_METRICS
    )
    axes[0].set_ylim(max(0.0, lowest - 0.05), 1.0)
    axes[1].legend(loc="lower right")
    return figure


def choose_champion(
    candidates: dict[str, dict[str, Any]],
    settings: dict[str, Any],
    registered_model_name: str,
    **model_files: bytes,
) -> tuple[dict[str, Any], bytes]:
    """The best candidate by validation accuracy becomes champion if it passes the quality gate
    (test accuracy >= `min_test_accuracy`) and is not worse than the current champion measured on
    the same data; otherwise the current champion stays.

    Candidates missing from the registry (a new or lost tracking store) are registered again from
    their DVC-tracked files first. Returns the decision and the champion's model file.
    """
    from cat_dog_classifier import registry  # noqa: PLC0415 - MLflow and TensorFlow load here

    candidates = {
        name: _ensure_registered(record, model_files[name], registered_model_name)
        for name, record in candidates.items()
    }
    order = list(candidates)  # variants file order breaks ties
    best = max(
        candidates.values(),
        key=lambda r: (r["validation"]["accuracy"], -order.index(r["variant"])),
    )
    alias, gate = settings["alias"], float(settings["min_test_accuracy"])
    current_version = registry.alias_version(registered_model_name, alias)
    current = registry.version_record(current_version) if current_version else None
    promoted, reason = _decide(best, current, gate, alias)
    champion = best if promoted else current
    if champion is None:
        raise ValueError(
            f"No model can be champion: {reason}. Improve training, or lower "
            "champion.min_test_accuracy in conf/base/parameters_champion.yml."
        )
    if champion is best:
        champion_file = model_files[best["variant"]]
    else:
        champion_file = registry.download_model_file(registered_model_name, champion["version"])
    logger.info("Champion decision: %s", reason)
    decision = {
        "registered_model_name": registered_model_name,
        "alias": alias,
        "min_test_accuracy": gate,
        "promoted": promoted,
        "reason": reason,
        "champion": champion,
        "previous_champion": current,
        "candidates": candidates,
    }
    return decision, champion_file


def publish_champion(
    decision: dict[str, Any], champion_file: bytes, settings: dict[str, Any]
) -> None:
    """Point the registry's alias at the recorded champion, registering its file again if the
    registry lost it: the registry follows what DVC recorded (`kedro run --pipelines publish`
    after a `git checkout` + `dvc checkout` moves it back)."""
    from cat_dog_classifier import registry  # noqa: PLC0415

    champion = decision["champion"]
    md5 = model_md5(champion_file)
    if md5 != champion["model_md5"]:
        raise ValueError(
            f"data/06_models/champion.keras has MD5 {md5}, but champion.json names "
            f"{champion['model_md5']}: the two are out of step. Restore them with `dvc checkout`, "
            "or rebuild them with `dvc repro`."
        )
    name = decision["registered_model_name"]
    registered = registry.register_model_file(champion_file, name, registry.version_tags(champion))
    registry.set_alias(name, settings["alias"], registered["version"])
    logger.info(
        "Registry alias %r -> %s version %s (model MD5 %s)",
        settings["alias"],
        name,
        registered["version"],
        md5,
    )


def _ensure_registered(
    record: dict[str, Any], model_file: bytes, registered_model_name: str
) -> dict[str, Any]:
    """The record with the registry version that holds its model file now, registering the file
    again if the registry lacks it (the number may then differ from the one evaluation saw)."""
    from cat_dog_classifier import registry  # noqa: PLC0415

    if model_md5(model_file) != record["model_md5"]:
        raise ValueError(
            f"The {record['variant']} model file's MD5 is {model_md5(model_file)}, but its "
            f"evaluation recorded {record['model_md5']}: run `dvc repro` to evaluate it again."
        )
    registered = registry.register_model_file(
        model_file, registered_model_name, registry.version_tags(record)
    )
    if registered["newly_registered"]:
        logger.warning(
            "%s version %s was missing from the registry: registered again from its file as "
            "version %s",
            record["variant"],
            record["version"],
            registered["version"],
        )
    return {**record, "version": registered["version"]}


def _decide(
    best: dict[str, Any], current: dict[str, Any] | None, gate: float, alias: str
) -> tuple[bool, str]:
    """(promoted, reason) for the best candidate against the quality gate and the current
    champion."""
    validation, test = best["validation"]["accuracy"], best["test"]["accuracy"]
    candidate = (
        f"{best['variant']} (version {best['version']}, validation accuracy {validation:.4f}, "
        f"test accuracy {test:.4f})"
    )
    if current is not None and current["model_md5"] == best["model_md5"]:
        return True, f"{candidate} is already the {alias}"
    if test < gate:
        reason = f"{candidate} fails the quality gate (test accuracy < {gate})"
        if current is not None:
            reason += f"; version {current['version']} stays {alias}"
        return False, reason
    if current is None:
        return True, f"{candidate} passes the gate (>= {gate}) and becomes {alias}"
    previous = (
        f"version {current['version']} ({current['variant']}, validation accuracy "
        f"{current['validation']['accuracy']:.4f})"
    )
    if current["split_sha256"] != best["split_sha256"]:
        return True, (
            f"{candidate} passes the gate and replaces {previous}, which was measured on other "
            f"data (split {current['split_sha256'][:12]}, now {best['split_sha256'][:12]}): "
            "their accuracies are not comparable"
        )
    if validation >= current["validation"]["accuracy"]:
        return True, f"{candidate} passes the gate and is not worse than {previous}: it replaces it"
    return False, f"{candidate} is worse than the {alias}, {previous}, on the same data: it stays"
