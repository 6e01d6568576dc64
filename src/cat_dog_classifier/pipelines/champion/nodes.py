"""Choose the champion among the evaluated variants, record it, point the registry's alias at it.

The decision is made from DVC-tracked inputs (each variant's evaluation record and model file) and
one outside input, the registry's current champion. The decision DVC tracks names models by
content (variant, MD5, metrics) and mentions the registry's champion only where it stays: when the
best candidate is promoted, champion.json is the same whatever the registry held before, and what
it replaced (registry versions) goes to the run's tags. The champion's model file is written byte
for byte as a DVC output, so the export converts exactly what dvc.lock names, whatever happens to
the registry later.
"""

import logging
from typing import TYPE_CHECKING, Any

import pandas as pd

from cat_dog_classifier.lineage import by_content
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
) -> tuple[dict[str, Any], bytes, dict[str, str]]:
    """The best candidate by validation accuracy becomes champion if it passes the quality gate
    (test accuracy >= `min_test_accuracy`) and is not worse than the current champion measured on
    the same data; otherwise the current champion stays.

    Candidates missing from the registry (a new or lost tracking store) are registered again from
    their DVC-tracked files first. Returns the decision, the champion's model file, and tags for
    the run: the registry versions of the candidates, the champion's and the one it replaced.
    """
    from cat_dog_classifier import registry  # noqa: PLC0415 - MLflow and TensorFlow load here

    versions = {
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
    if not promoted and current is None:
        raise ValueError(
            f"No model can be champion: {reason}. Improve training, or lower "
            "champion.min_test_accuracy in conf/base/parameters_champion.yml."
        )
    if promoted:
        champion, champion_file = best, model_files[best["variant"]]
        champion_version = versions[best["variant"]]
    else:
        champion_version = current["version"]
        champion = by_content(current)
        champion_file = registry.download_model_file(registered_model_name, champion_version)
    before = f"version {current['version']} ({_describe(current)})" if current else "none"
    logger.info("Champion decision: %s (the %s before: %s)", reason, alias, before)
    decision = {
        "registered_model_name": registered_model_name,
        "alias": alias,
        "min_test_accuracy": gate,
        "promoted": promoted,
        "reason": reason,
        "champion": champion,
        "candidates": candidates,
    }
    tags = {
        "champion_version": champion_version,
        "previous_champion_version": current["version"] if current else "none",
        **{f"{name}_version": version for name, version in versions.items()},
    }
    return decision, champion_file, tags


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
) -> str:
    """The registry version that holds the record's model file, registering the file again if the
    registry lacks it (a new or lost tracking store)."""
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
            "%s (model MD5 %s) was missing from the registry: registered again from its file as "
            "version %s",
            record["variant"],
            record["model_md5"],
            registered["version"],
        )
    return registered["version"]


def _describe(record: dict[str, Any]) -> str:
    """A model by content: its variant, MD5 and validation accuracy (never a registry version,
    which another store numbers otherwise)."""
    return (
        f"{record['variant']}, model {record['model_md5'][:8]}, validation accuracy "
        f"{record['validation']['accuracy']:.4f}"
    )


def _decide(
    best: dict[str, Any], current: dict[str, Any] | None, gate: float, alias: str
) -> tuple[bool, str]:
    """(promoted, reason) for the best candidate against the quality gate and the current
    champion. When the best is promoted, the reason is the same whatever the registry held."""
    test = best["test"]["accuracy"]
    candidate = f"{_describe(best)} and test accuracy {test:.4f}"
    passes = f"the best candidate, {candidate}, passes the gate (>= {gate})"
    if current is not None and current["model_md5"] == best["model_md5"]:
        return True, passes if test >= gate else f"the best candidate, {candidate}, is the {alias}"
    if test < gate:
        reason = f"the best candidate, {candidate}, fails the quality gate (test accuracy < {gate})"
        if current is not None:
            reason += f"; the registry's {alias} ({_describe(current)}) stays"
        return False, reason
    if (
        current is None
        or current["split_sha256"] != best["split_sha256"]  # measured on other data: no contest
        or best["validation"]["accuracy"] >= current["validation"]["accuracy"]
    ):
        return True, passes
    return False, (
        f"the best candidate, {candidate}, is worse than the registry's {alias} "
        f"({_describe(current)}) on the same data: it stays"
    )
