"""The champion choice and its publication, against a real MLflow registry (SQLite in a temporary
directory) holding small real `.keras` files."""

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
        "training_run_id": None,
        "git_commit": "c" * 40,
        "git_dirty": "false",
        "data_md5": None,
    }
    registered = registry.register_model_file(file, NAME, registry.version_tags(evaluation))
    return evaluation | {"version": registered["version"]}


def make_champion(file: bytes, validation: float, split: str = SPLIT) -> str:
    """A current champion, registered earlier and not among today's candidates."""
    current = record("transfer", file, validation, 0.95, split)
    registry.set_alias(NAME, "champion", current["version"])
    return current["version"]


def lose_registry(tmp_path: Path) -> None:
    """Point MLflow at a new, empty store, as after deleting mlflow.db."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/fresh.db")
    mlflow.set_experiment("tests")


def choose(candidates: dict, **files: bytes) -> tuple[dict, bytes]:
    return choose_champion(candidates, SETTINGS, NAME, **files)


def test_the_best_validation_accuracy_wins_not_the_best_test_accuracy(mlflow_store, files):
    candidates = collect_evaluations(
        cnn=record("cnn", files[0], validation=0.90, test=0.85),
        transfer=record("transfer", files[1], validation=0.88, test=0.97),
    )
    decision, champion_file = choose(candidates, cnn=files[0], transfer=files[1])

    assert decision["promoted"] is True
    assert decision["champion"]["variant"] == "cnn"
    assert champion_file == files[0]
    assert "becomes champion" in decision["reason"]
    assert decision["previous_champion"] is None
    assert set(decision["candidates"]) == {"cnn", "transfer"}
    # Choosing does not move the alias; publishing does.
    assert registry.alias_version(NAME, "champion") is None
    publish_champion(decision, champion_file, SETTINGS)
    assert registry.alias_version(NAME, "champion").tags["model_md5"] == model_md5(files[0])


def test_no_model_passing_the_gate_and_no_champion_is_an_error(mlflow_store, files):
    candidates = {"cnn": record("cnn", files[0], validation=0.9, test=0.7)}
    with pytest.raises(ValueError, match=r"No model can be champion: .*fails the quality gate"):
        choose(candidates, cnn=files[0])


def test_a_candidate_failing_the_gate_leaves_the_champion_and_its_file(mlflow_store, files):
    version = make_champion(files[2], validation=0.80)
    candidates = {"cnn": record("cnn", files[0], validation=0.99, test=0.7)}

    decision, champion_file = choose(candidates, cnn=files[0])

    assert decision["promoted"] is False
    assert f"version {version} stays champion" in decision["reason"]
    assert decision["champion"]["version"] == version
    assert champion_file == files[2]  # downloaded from the registry, MD5-checked


def test_a_worse_candidate_on_the_same_data_leaves_the_champion(mlflow_store, files):
    version = make_champion(files[2], validation=0.95)
    candidates = {"cnn": record("cnn", files[0], validation=0.90, test=0.9)}

    decision, champion_file = choose(candidates, cnn=files[0])

    assert decision["promoted"] is False
    assert "is worse than the champion" in decision["reason"]
    assert decision["previous_champion"]["version"] == version
    assert champion_file == files[2]


def test_a_candidate_as_good_on_the_same_data_replaces_the_champion(mlflow_store, files):
    version = make_champion(files[2], validation=0.90)
    candidates = {"cnn": record("cnn", files[0], validation=0.90, test=0.9)}

    decision, champion_file = choose(candidates, cnn=files[0])

    assert decision["promoted"] is True
    assert f"is not worse than version {version}" in decision["reason"]
    assert champion_file == files[0]


def test_a_champion_measured_on_other_data_is_replaced_and_the_decision_says_why(
    mlflow_store, files
):
    make_champion(files[2], validation=0.99, split=OTHER_SPLIT)
    candidates = {"cnn": record("cnn", files[0], validation=0.85, test=0.85)}

    decision, champion_file = choose(candidates, cnn=files[0])

    assert decision["promoted"] is True
    assert "measured on other data" in decision["reason"]
    assert "not comparable" in decision["reason"]
    assert champion_file == files[0]


def test_the_champion_itself_as_candidate_is_already_champion(mlflow_store, files):
    candidates = {"cnn": record("cnn", files[0], validation=0.9, test=0.9)}
    registry.set_alias(NAME, "champion", candidates["cnn"]["version"])

    decision, _ = choose(candidates, cnn=files[0])

    assert decision["promoted"] is True
    assert "is already the champion" in decision["reason"]
    assert "replac" not in decision["reason"]


def test_candidates_missing_from_the_registry_are_registered_again(mlflow_store, files, tmp_path):
    evaluated = record("cnn", files[0], validation=0.9, test=0.9)
    lose_registry(tmp_path)

    decision, champion_file = choose({"cnn": evaluated}, cnn=files[0])

    version = registry.find_version(NAME, model_md5(files[0]))
    assert version is not None
    assert decision["champion"]["version"] == str(version.version)
    assert champion_file == files[0]


def test_a_model_file_that_is_not_the_evaluated_one_is_refused(mlflow_store, files):
    candidates = {"cnn": record("cnn", files[0], validation=0.9, test=0.9)}
    with pytest.raises(ValueError, match="run `dvc repro` to evaluate it again"):
        choose(candidates, cnn=files[1])


def test_publishing_refuses_a_file_that_is_not_the_recorded_champion(mlflow_store, files):
    candidates = {"cnn": record("cnn", files[0], validation=0.9, test=0.9)}
    decision, _ = choose(candidates, cnn=files[0])
    with pytest.raises(ValueError, match="out of step"):
        publish_champion(decision, files[1], SETTINGS)


def test_publishing_registers_a_lost_champion_again(mlflow_store, files, tmp_path):
    candidates = {"cnn": record("cnn", files[0], validation=0.9, test=0.9)}
    decision, champion_file = choose(candidates, cnn=files[0])
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
