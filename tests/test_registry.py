"""Registration and the champion rules against a real MLflow registry (SQLite in a temp dir)."""

from collections.abc import Iterator
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from cat_dog_classifier.registry import log_and_register, promote_champion

NAME = "cat_dog_classifier"


@pytest.fixture
def tracking_uri(tmp_path: Path) -> Iterator[str]:
    previous = mlflow.get_tracking_uri()
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("registry-test")
    yield uri
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def model() -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)


def register(model: keras.Model, variant: str, accuracy: float) -> dict:
    with mlflow.start_run(tags={"variant": variant}):
        return log_and_register(
            model,
            input_example=np.full((2, 8, 8, 1), 128, dtype="float32"),
            registered_model_name=NAME,
            tags={
                "color_mode": "grayscale",
                "image_height": 8,
                "image_width": 8,
                "test_accuracy": accuracy,
            },
        )


def champion_version() -> str | None:
    version = MlflowClient().get_registered_model(NAME).aliases.get("champion")
    return None if version is None else str(version)


def test_registered_version_has_tags_signature_and_input_example(tracking_uri, model):
    registered = register(model, "cnn", 0.9)
    version = MlflowClient().get_model_version(NAME, registered["version"])
    assert version.tags == {
        "variant": "cnn",
        "color_mode": "grayscale",
        "image_height": "8",
        "image_width": "8",
        "test_accuracy": "0.9",
    }
    assert version.run_id == registered["run_id"]
    info = mlflow.models.get_model_info(f"models:/{NAME}/{registered['version']}")
    assert info.flavors.keys() >= {"keras", "python_function"}
    assert info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 8, 8, 1)
    assert info.saved_input_example_info is not None
    loaded = mlflow.keras.load_model(f"models:/{NAME}/{registered['version']}")
    example = np.full((1, 8, 8, 1), 128, dtype="float32")
    np.testing.assert_allclose(
        loaded.predict(example, verbose=0), model.predict(example, verbose=0)
    )


def test_best_candidate_passing_the_gate_becomes_champion(tracking_uri, model):
    candidates = [register(model, "cnn", 0.83), register(model, "transfer", 0.97)]
    decision = promote_champion(candidates, NAME, min_test_accuracy=0.8)
    assert decision["promoted"] is True
    assert decision["candidate_variant"] == "transfer"
    assert champion_version() == candidates[1]["version"]
    assert "passes the gate" in decision["reason"]
    champion = mlflow.keras.load_model(f"models:/{NAME}@champion")
    assert champion.input_shape == (None, 8, 8, 1)


def test_candidate_failing_the_gate_leaves_the_alias(tracking_uri, model):
    decision = promote_champion([register(model, "cnn", 0.79)], NAME, min_test_accuracy=0.8)
    assert decision["promoted"] is False
    assert "fails the quality gate" in decision["reason"]
    assert champion_version() is None


def test_candidate_worse_than_the_champion_leaves_the_alias(tracking_uri, model):
    first = register(model, "transfer", 0.95)
    promote_champion([first], NAME, min_test_accuracy=0.8)
    decision = promote_champion([register(model, "cnn_dropout", 0.9)], NAME, min_test_accuracy=0.8)
    assert decision["promoted"] is False
    assert "worse than the current champion" in decision["reason"]
    assert decision["previous_champion_version"] == first["version"]
    assert champion_version() == first["version"]

    equal = register(model, "transfer", 0.95)
    assert promote_champion([equal], NAME, min_test_accuracy=0.8)["promoted"] is True
    assert champion_version() == equal["version"]


def test_no_candidate_is_an_error(tracking_uri):
    with pytest.raises(ValueError, match="No registered model version"):
        promote_champion([], NAME, min_test_accuracy=0.8)
