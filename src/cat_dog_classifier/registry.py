"""The MLflow model registry, following DVC: the only module that talks to it.

A model is identified by the MD5 of its file's bytes, the hash DVC records in dvc.lock. Every
registered version carries it as the tag `model_md5`, and its artifact holds exactly those bytes,
so the registry, dvc.lock and the web manifest name the same model by the same hash, registering an
unchanged model again is a no-op, and a lost registry is rebuilt from the DVC-tracked files.
"""

import tempfile
from pathlib import Path
from typing import Any

import keras
import mlflow
import numpy as np
import tensorflow as tf
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model, infer_signature
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

from cat_dog_classifier.model_files import load_keras_model, model_md5

# Where mlflow.keras keeps the model file inside a logged model (mlflow/keras/save.py).
_KERAS_FILE = Path("data") / "model.keras"


class _ExactKerasFile:
    """`mlflow.keras`, storing the given `.keras` bytes instead of saving the model anew.

    Re-saving would write other bytes (a zip with new timestamps): the artifact would no longer be
    the file DVC tracks. Also works around mlflow.keras writing the input example before creating
    the model folder (mlflow/mlflow#16183, still open in MLflow 3.17). Loaded by `mlflow.keras`.
    """

    @staticmethod
    def save_model(path: str, model_file: bytes, **kwargs: Any) -> None:
        Path(path).mkdir(parents=True)
        mlflow.keras.save_model(path=path, **kwargs)
        (Path(path) / _KERAS_FILE).write_bytes(model_file)


def find_version(registered_model_name: str, md5: str) -> ModelVersion | None:
    """The registered version whose model file has this MD5, if any (the oldest if several)."""
    versions = MlflowClient().search_model_versions(
        f"name = '{registered_model_name}' and tags.model_md5 = '{md5}'"
    )
    return min(versions, key=lambda v: int(v.version)) if versions else None


def register_model_file(
    model_file: bytes,
    registered_model_name: str,
    tags: dict[str, Any],
    input_example: np.ndarray | None = None,
    model: keras.Model | None = None,
) -> dict[str, Any]:
    """Log these exact model bytes (mlflow.keras flavor, with a signature and an input example) and
    register them, unless a version with the same MD5 exists: then that version is returned.

    `model` is the loaded model when the caller has it (else it is loaded from the bytes). Logs to
    the active run, or to a new run when none is active. Returns the version's number, run id and
    MD5, and whether this call registered it.
    """
    md5 = model_md5(model_file)
    existing = find_version(registered_model_name, md5)
    if existing is not None:
        return {
            "version": str(existing.version),
            "run_id": existing.run_id,
            "model_md5": md5,
            "newly_registered": False,
        }

    model = model or load_keras_model(model_file)
    if input_example is None:  # a mid-grey image of the model's input size
        input_example = np.full((1, *model.input_shape[1:]), 128, dtype="float32")
    signature = infer_signature(input_example, model.predict(input_example, verbose=0))
    started = mlflow.active_run() is None
    run = mlflow.start_run(run_name=f"register {tags.get('variant', '')}") if started else None
    try:
        info = Model.log(
            artifact_path=None,
            name="model",
            flavor=_ExactKerasFile,
            flavor_name="mlflow.keras",
            model=model,
            model_file=model_file,
            signature=signature,
            input_example=input_example,
            # Keras and its TensorFlow backend are all the model needs; naming them skips MLflow's
            # requirement inference, which reloads the model in a subprocess (~15 s a model).
            pip_requirements=[f"keras=={keras.__version__}", f"tensorflow=={tf.__version__}"],
        )
        version = mlflow.register_model(
            info.model_uri,
            registered_model_name,
            tags={key: str(value) for key, value in {**tags, "model_md5": md5}.items()},
        )
    finally:
        if run is not None:
            mlflow.end_run()
    return {
        "version": str(version.version),
        "run_id": info.run_id,
        "model_md5": md5,
        "newly_registered": True,
    }


def download_model_file(registered_model_name: str, version: str) -> bytes:
    """The exact model file a registered version holds, checked against its `model_md5` tag."""
    record = MlflowClient().get_model_version(registered_model_name, version)
    with tempfile.TemporaryDirectory() as scratch:
        folder = mlflow.artifacts.download_artifacts(
            f"models:/{registered_model_name}/{version}", dst_path=scratch
        )
        model_file = (Path(folder) / _KERAS_FILE).read_bytes()
    if model_md5(model_file) != record.tags.get("model_md5"):
        raise ValueError(
            f"{registered_model_name} version {version} holds a model whose MD5 is "
            f"{model_md5(model_file)}, not its tag model_md5={record.tags.get('model_md5')}"
        )
    return model_file


def alias_version(registered_model_name: str, alias: str) -> ModelVersion | None:
    """The version `alias` points at, or None (no such alias, or no such registered model)."""
    client = MlflowClient()
    try:
        number = client.get_registered_model(registered_model_name).aliases.get(alias)
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise
    return None if number is None else client.get_model_version(registered_model_name, number)


def set_alias(registered_model_name: str, alias: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(registered_model_name, alias, version)


def find_training_run(variant: str, md5: str) -> Run | None:
    """The MLflow run that trained the model file with this MD5 (the latest, if retrained to the
    same bytes), or None when the tracking store does not know it."""
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.variant = '{variant}' and tags.trained_model_md5 = '{md5}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return runs[0] if runs else None


def epoch_figures(variant: str, md5: str, name: str) -> list[float]:
    """A figure the training run of this model file logged per epoch, in epoch order (empty when
    the store does not know the run): `images_per_second` lives there only, not in the history DVC
    tracks."""
    run = find_training_run(variant, md5)
    if run is None:
        return []
    history = MlflowClient().get_metric_history(run.info.run_id, name)
    return [metric.value for metric in sorted(history, key=lambda metric: metric.step)]


_LINEAGE_TAGS = ("training_run_id", "git_commit", "git_dirty", "data_md5")


def version_tags(record: dict[str, Any]) -> dict[str, Any]:
    """A version's registry tags, from its evaluation record (`version_record` reads them back)."""
    model_input = record["input"]
    tags = {
        "variant": record["variant"],
        "architecture": record["architecture"],
        "color_mode": model_input["color_mode"],
        "image_height": model_input["height"],
        "image_width": model_input["width"],
        "interpolation": model_input["interpolation"],
        "validation_accuracy": record["validation"]["accuracy"],
        "test_accuracy": record["test"]["accuracy"],
        "split_sha256": record["split_sha256"],
    }
    if record.get("neither"):
        tags["neither_threshold"] = record["neither"]["threshold"]
    return tags | {key: record[key] for key in _LINEAGE_TAGS if record.get(key) is not None}


def version_record(version: ModelVersion) -> dict[str, Any]:
    """The record of a registered version, rebuilt from its tags (metrics: accuracies only)."""
    tags = version.tags
    color_mode = tags["color_mode"]
    return {
        "variant": tags["variant"],
        "architecture": tags["architecture"],
        "registered_model_name": version.name,
        "version": str(version.version),
        "registered_run_id": version.run_id,
        "model_md5": tags["model_md5"],
        "split_sha256": tags["split_sha256"],
        "input": {
            "height": int(tags["image_height"]),
            "width": int(tags["image_width"]),
            "channels": 1 if color_mode == "grayscale" else 3,
            "color_mode": color_mode,
            "interpolation": tags["interpolation"],
        },
        "validation": {"accuracy": float(tags["validation_accuracy"])},
        "test": {"accuracy": float(tags["test_accuracy"])},
        "neither": (
            {"output": "neither_score", "threshold": float(tags["neither_threshold"])}
            if "neither_threshold" in tags
            else None
        ),
        **{key: tags.get(key) for key in _LINEAGE_TAGS},
    }
