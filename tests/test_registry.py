"""The registry follows DVC: versions identified by their model file's MD5, against a real MLflow
registry (SQLite in a temporary directory)."""

from pathlib import Path

import keras
import mlflow
import pytest
from mlflow import MlflowClient

from cat_dog_classifier import registry
from cat_dog_classifier.model_files import model_md5

NAME = "cat_dog_classifier"
RECORD = {
    "variant": "cnn",
    "architecture": "cnn",
    "input": {
        "height": 8,
        "width": 8,
        "channels": 1,
        "color_mode": "grayscale",
        "interpolation": "area",
    },
    "validation": {"accuracy": 0.85},
    "test": {"accuracy": 0.84},
    "split_sha256": "ab" * 32,
    "training_run_id": "0123",
    "git_commit": "f" * 40,
    "git_dirty": "false",
    "data_md5": None,
}


def model_file(tmp_path: Path, seed: int) -> bytes:
    """The bytes of a tiny real `.keras` file (a new seed gives other weights, other bytes)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1), name="image")
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inputs))
    path = tmp_path / f"model-{seed}.keras"
    keras.Model(inputs, outputs).save(path)
    return path.read_bytes()


def test_a_registered_version_holds_the_exact_file_and_its_tags(mlflow_store, tmp_path):
    file = model_file(tmp_path, 1)
    with mlflow.start_run() as run:
        registered = registry.register_model_file(file, NAME, registry.version_tags(RECORD))

    assert registered == {
        "version": "1",
        "run_id": run.info.run_id,
        "model_md5": model_md5(file),
        "newly_registered": True,
    }
    version = MlflowClient().get_model_version(NAME, "1")
    assert version.tags["model_md5"] == model_md5(file)
    assert version.tags["variant"] == "cnn"
    assert "data_md5" not in version.tags  # unknown lineage is left out, not written as "None"
    assert registry.download_model_file(NAME, "1") == file
    info = mlflow.models.get_model_info(f"models:/{NAME}/1")
    assert info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 8, 8, 1)
    assert info.saved_input_example_info is not None
    loaded = mlflow.keras.load_model(f"models:/{NAME}/1")
    assert loaded.input_shape == (None, 8, 8, 1)


def test_registering_the_same_bytes_again_returns_the_same_version(mlflow_store, tmp_path):
    first, second = model_file(tmp_path, 1), model_file(tmp_path, 2)
    registry.register_model_file(first, NAME, registry.version_tags(RECORD))
    again = registry.register_model_file(first, NAME, registry.version_tags(RECORD))
    other = registry.register_model_file(second, NAME, registry.version_tags(RECORD))

    assert (again["version"], again["newly_registered"]) == ("1", False)
    assert (other["version"], other["newly_registered"]) == ("2", True)
    assert len(MlflowClient().search_model_versions(f"name = '{NAME}'")) == 2
    assert str(registry.find_version(NAME, model_md5(second)).version) == "2"
    assert registry.find_version(NAME, "0" * 32) is None


def test_a_version_record_round_trips_through_its_tags(mlflow_store, tmp_path):
    file = model_file(tmp_path, 1)
    registered = registry.register_model_file(file, NAME, registry.version_tags(RECORD))
    record = registry.version_record(MlflowClient().get_model_version(NAME, registered["version"]))

    assert record["model_md5"] == model_md5(file)
    assert record["version"] == "1"
    for key in (
        "variant",
        "architecture",
        "input",
        "validation",
        "test",
        "split_sha256",
        "training_run_id",
        "git_commit",
        "git_dirty",
        "data_md5",
    ):
        assert record[key] == RECORD[key], key


def test_a_file_that_does_not_match_its_tag_is_refused(mlflow_store, tmp_path):
    file = model_file(tmp_path, 1)
    registry.register_model_file(file, NAME, registry.version_tags(RECORD))
    MlflowClient().set_model_version_tag(NAME, "1", "model_md5", "0" * 32)

    with pytest.raises(ValueError, match="not its tag model_md5"):
        registry.download_model_file(NAME, "1")


def test_aliases_and_missing_models(mlflow_store, tmp_path):
    assert registry.alias_version(NAME, "champion") is None  # no such registered model yet
    registry.register_model_file(model_file(tmp_path, 1), NAME, registry.version_tags(RECORD))
    assert registry.alias_version(NAME, "champion") is None
    registry.set_alias(NAME, "champion", "1")
    assert str(registry.alias_version(NAME, "champion").version) == "1"


def test_the_training_run_is_found_by_the_md5_of_the_file_it_wrote(mlflow_store, tmp_path):
    file = model_file(tmp_path, 1)
    with mlflow.start_run(tags={"variant": "cnn", "trained_model_md5": model_md5(file)}) as run:
        pass
    assert registry.find_training_run("cnn", model_md5(file)).info.run_id == run.info.run_id
    assert registry.find_training_run("transfer", model_md5(file)) is None
    assert registry.find_training_run("cnn", "0" * 32) is None
