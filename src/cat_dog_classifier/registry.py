"""The MLflow model registry: register variants and move the `champion` alias.

The only module that talks to the registry. Logging a model needs a signature and an input example
computed from the data, which a static catalog entry cannot hold, so it is done here too.
"""

from pathlib import Path
from typing import Any

import keras
import mlflow
import numpy as np
import tensorflow as tf
from mlflow import MlflowClient
from mlflow.models import Model, infer_signature


class _KerasFlavor:
    """`mlflow.keras`, fixed: its `save_model` writes the input example before creating the model
    folder, so `mlflow.keras.log_model(..., input_example=...)` fails (mlflow/mlflow#16183, still
    open in MLflow 3.17). Logged under the `mlflow.keras` flavor name, loaded by `mlflow.keras`."""

    @staticmethod
    def save_model(path: str, **kwargs: Any) -> None:
        Path(path).mkdir(parents=True)
        mlflow.keras.save_model(path=path, **kwargs)


def log_and_register(
    model: keras.Model,
    input_example: np.ndarray,
    registered_model_name: str,
    tags: dict[str, Any],
) -> dict[str, Any]:
    """Log `model` (mlflow.keras flavor) to the active run, register it and tag the new version.

    Returns what the champion choice needs: name, version, run id, model URI and the tags.
    """
    signature = infer_signature(input_example, model.predict(input_example, verbose=0))
    info = Model.log(
        artifact_path=None,
        name="model",
        flavor=_KerasFlavor,
        flavor_name="mlflow.keras",
        model=model,
        signature=signature,
        input_example=input_example,
        # Keras and its TensorFlow backend are all the model needs; naming them skips MLflow's
        # requirement inference, which reloads the model in a subprocess (~15 s a model).
        pip_requirements=[f"keras=={keras.__version__}", f"tensorflow=={tf.__version__}"],
        registered_model_name=registered_model_name,
    )
    version = str(info.registered_model_version)
    client = MlflowClient()
    variant = mlflow.active_run().data.tags.get("variant", "")
    for key, value in {"variant": variant, **tags}.items():
        client.set_model_version_tag(registered_model_name, version, key, str(value))
    return {
        "name": registered_model_name,
        "version": version,
        "run_id": info.run_id,
        "model_uri": info.model_uri,
        "variant": variant,
        **tags,
    }


def _current_champion(
    client: MlflowClient, registered_model_name: str, alias: str
) -> tuple[str, float] | None:
    """(version, test accuracy) of the version holding `alias`, or None when no version does."""
    version = client.get_registered_model(registered_model_name).aliases.get(alias)
    if version is None:
        return None
    tags = client.get_model_version(registered_model_name, version).tags
    return str(version), float(tags["test_accuracy"])


def promote_champion(
    candidates: list[dict[str, Any]],
    registered_model_name: str,
    min_test_accuracy: float,
    alias: str = "champion",
) -> dict[str, Any]:
    """Point `alias` at the candidate with the best test accuracy, if it passes the quality gate
    (test accuracy >= `min_test_accuracy`) and is not worse than the current champion.

    Returns the decision: whether it moved, the chosen and previous versions, and the reason.
    """
    if not candidates:
        raise ValueError("No registered model version to choose a champion from")
    client = MlflowClient()
    best = max(candidates, key=lambda candidate: float(candidate["test_accuracy"]))
    best_accuracy = float(best["test_accuracy"])
    current = _current_champion(client, registered_model_name, alias)
    decision = {
        "registered_model_name": registered_model_name,
        "alias": alias,
        "candidate_version": best["version"],
        "candidate_variant": best["variant"],
        "candidate_test_accuracy": best_accuracy,
        "min_test_accuracy": min_test_accuracy,
        "previous_champion_version": current[0] if current else None,
        "previous_champion_test_accuracy": current[1] if current else None,
    }
    candidate = f"{best['variant']} (version {best['version']}, test accuracy {best_accuracy:.4f})"
    if best_accuracy < min_test_accuracy:
        promoted = False
        reason = f"{candidate} fails the quality gate: test accuracy < {min_test_accuracy}"
    elif current and best_accuracy < current[1]:
        promoted = False
        reason = (
            f"{candidate} is worse than the current champion, version {current[0]} "
            f"(test accuracy {current[1]:.4f})"
        )
    else:
        promoted = True
        client.set_registered_model_alias(registered_model_name, alias, best["version"])
        reason = f"{candidate} passes the gate (>= {min_test_accuracy}) and becomes {alias}" + (
            f", replacing version {current[0]} (test accuracy {current[1]:.4f})" if current else ""
        )
    return {**decision, "promoted": promoted, "reason": reason}
