"""The champion choice and its publication, against a real MLflow registry (SQLite in a temporary
directory) holding small real `.keras` files."""

import json
from pathlib import Path

import keras
import mlflow
import pytest
from matplotlib.figure import Figure

from cat_dog_classifier import registry
from cat_dog_classifier.model_files import model_md5
from cat_dog_classifier.pipelines.champion.nodes import (
    choose_champion,
    collect_evaluations,
    plot_model_comparison,
    publish_champion,
)

NAME = "cat_dog_classifier"
SETTINGS = {"alias": "champion", "min_test_accuracy": 0.8}
SPLIT, OTHER_SPLIT = "a" * 64, "b" * 64


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Three tiny real model files, each with its own weights (so its own MD5)."""
    folder = tmp_path_factory.mktemp("models")
    made = []
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((8, 8, 1), name="image")
        outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inputs))
        keras.Model(inputs, outputs).save(folder / f"{seed}.keras")
        made.append((folder / f"{seed}.keras").read_bytes())
    return made


def record(variant: str, file: bytes, validation: float, test: float, split: str = SPLIT) -> dict:
    """A variant's evaluation record as evaluate writes it, its file registered as evaluate does."""
    scores = {"precision": 0.8, "recall": 0.8, "f1": 0.8, "roc_auc": 0.9}
    evaluation = {
        "variant": variant,
        "architecture": "cnn",
        "registered_model_name": NAME,
        "model_md5": model_md5(file),
        "split_sha256": split,
        "input": {
            "height": 8,
            "width": 8,
            "channels": 1,
            "color_mode": "grayscale",
            "interpolation": "area",
        },
        "validation": {"accuracy": validation, **scores},
        "test": {"accuracy": test, **scores},
        "data_md5": None,
    }
    registry.register_model_file(file, NAME, registry.version_tags(evaluation))
    return evaluation


def version_of(file: bytes) -> str:
    return str(registry.find_version(NAME, model_md5(file)).version)


def make_champion(file: bytes, validation: float, split: str = SPLIT) -> str:
    """A current champion, registered earlier and not among today's candidates."""
    record("transfer", file, validation, 0.95, split)
    registry.set_alias(NAME, "champion", version_of(file))
    return version_of(file)


def lose_registry(tmp_path: Path) -> None:
    """Point MLflow at a new, empty store, as after deleting mlflow.db."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/fresh.db")
    mlflow.set_experiment("tests")


def choose(candidates: dict, **files: bytes) -> tuple[dict, bytes, dict]:
    return choose_champion(candidates, SETTINGS, NAME, **files)


def test_the_best_validation_accuracy_wins_not_the_best_test_accuracy(mlflow_store, files):
    candidates = collect_evaluations(
        cnn=record("cnn", files[0], validation=0.90, test=0.85),
        transfer=record("transfer", files[1], validation=0.88, test=0.97),
    )
    decision, champion_file, tags = choose(candidates, cnn=files[0], transfer=files[1])

    assert decision["promoted"] is True
    assert decision["champion"] == candidates["cnn"]
    assert champion_file == files[0]
    assert "passes the gate" in decision["reason"]
    assert set(decision["candidates"]) == {"cnn", "transfer"}
    # Registry versions are the run's tags, never the decision's.
    assert tags == {
        "champion_version": version_of(files[0]),
        "previous_champion_version": "none",
        "cnn_version": version_of(files[0]),
        "transfer_version": version_of(files[1]),
    }
    assert "version" not in decision["champion"]
    # Choosing does not move the alias; publishing does.
    assert registry.alias_version(NAME, "champion") is None
    publish_champion(decision, champion_file, SETTINGS)
    assert registry.alias_version(NAME, "champion").tags["model_md5"] == model_md5(files[0])


def test_a_promoted_champion_is_decided_alike_whatever_the_registry_held(
    mlflow_store, files, tmp_path
):
    """A fresh clone's empty store, a rerun's (the champion already), and a store whose champion
    was worse: the same decision, byte for byte, as DVC tracks it."""
    candidates = {"cnn": record("cnn", files[0], validation=0.90, test=0.9)}
    decisions = []
    for before in ("empty", "worse champion", "the same champion"):
        if before == "empty":
            lose_registry(tmp_path)
        elif before == "worse champion":
            make_champion(files[2], validation=0.80)
        decision, champion_file, tags = choose(candidates, cnn=files[0])
        publish_champion(decision, champion_file, SETTINGS)
        decisions.append(json.dumps(decision, sort_keys=True))

    assert decisions[0] == decisions[1] == decisions[2]
    assert tags["previous_champion_version"] == tags["champion_version"]


def test_no_model_passing_the_gate_and_no_champion_is_an_error(mlflow_store, files):
    candidates = {"cnn": record("cnn", files[0], validation=0.9, test=0.7)}
    with pytest.raises(ValueError, match=r"No model can be champion: .*fails the quality gate"):
        choose(candidates, cnn=files[0])


def test_a_candidate_failing_the_gate_leaves_the_champion_and_its_file(mlflow_store, files):
    version = make_champion(files[2], validation=0.80)
    candidates = {"cnn": record("cnn", files[0], validation=0.99, test=0.7)}

    decision, champion_file, tags = choose(candidates, cnn=files[0])

    assert decision["promoted"] is False
    assert (
        f"the registry's champion (transfer, model {model_md5(files[2])[:8]}"
        in (decision["reason"])
    )
    assert decision["champion"]["model_md5"] == model_md5(files[2])
    assert "version" not in decision["champion"]
    assert tags["champion_version"] == tags["previous_champion_version"] == version
    assert champion_file == files[2]  # downloaded from the registry, MD5-checked


def test_a_worse_candidate_on_the_same_data_leaves_the_champion(mlflow_store, files):
    make_champion(files[2], validation=0.95)
    candidates = {"cnn": record("cnn", files[0], validation=0.90, test=0.9)}

    decision, champion_file, _ = choose(candidates, cnn=files[0])

    assert decision["promoted"] is False
    assert "is worse than the registry's champion" in decision["reason"]
    assert decision["champion"]["variant"] == "transfer"
    assert champion_file == files[2]


def test_a_candidate_as_good_on_the_same_data_replaces_the_champion(mlflow_store, files):
    version = make_champion(files[2], validation=0.90)
    candidates = {"cnn": record("cnn", files[0], validation=0.90, test=0.9)}

    decision, champion_file, tags = choose(candidates, cnn=files[0])

    assert decision["promoted"] is True
    assert tags["previous_champion_version"] == version
    assert champion_file == files[0]


def test_a_better_champion_measured_on_other_data_is_replaced(mlflow_store, files):
    make_champion(files[2], validation=0.99, split=OTHER_SPLIT)
    candidates = {"cnn": record("cnn", files[0], validation=0.85, test=0.85)}

    decision, champion_file, _ = choose(candidates, cnn=files[0])

    assert decision["promoted"] is True
    assert champion_file == files[0]


def test_candidates_missing_from_the_registry_are_registered_again(mlflow_store, files, tmp_path):
    evaluated = record("cnn", files[0], validation=0.9, test=0.9)
    lose_registry(tmp_path)

    decision, champion_file, tags = choose({"cnn": evaluated}, cnn=files[0])

    version = registry.find_version(NAME, model_md5(files[0]))
    assert version is not None
    assert tags["champion_version"] == tags["cnn_version"] == str(version.version)
    assert decision["champion"] == evaluated
    assert champion_file == files[0]


def test_a_model_file_that_is_not_the_evaluated_one_is_refused(mlflow_store, files):
    candidates = {"cnn": record("cnn", files[0], validation=0.9, test=0.9)}
    with pytest.raises(ValueError, match="run `dvc repro` to evaluate it again"):
        choose(candidates, cnn=files[1])


def test_publishing_refuses_a_file_that_is_not_the_recorded_champion(mlflow_store, files):
    candidates = {"cnn": record("cnn", files[0], validation=0.9, test=0.9)}
    decision, _, _ = choose(candidates, cnn=files[0])
    with pytest.raises(ValueError, match="out of step"):
        publish_champion(decision, files[1], SETTINGS)


def test_publishing_registers_a_lost_champion_again(mlflow_store, files, tmp_path):
    candidates = {"cnn": record("cnn", files[0], validation=0.9, test=0.9)}
    decision, champion_file, _ = choose(candidates, cnn=files[0])
    lose_registry(tmp_path)

    publish_champion(decision, champion_file, SETTINGS)

    assert registry.alias_version(NAME, "champion").tags["model_md5"] == model_md5(files[0])


def test_the_comparison_plot_shows_both_splits(mlflow_store, files):
    candidates = {
        "cnn": record("cnn", files[0], validation=0.9, test=0.85),
        "transfer": record("transfer", files[1], validation=0.97, test=0.96),
    }
    figure = plot_model_comparison(candidates)
    assert isinstance(figure, Figure)
    assert [ax.get_title() for ax in figure.axes] == ["Validation split", "Test split"]
    assert [tick.get_text() for tick in figure.axes[0].get_xticklabels()] == ["cnn", "transfer"]
