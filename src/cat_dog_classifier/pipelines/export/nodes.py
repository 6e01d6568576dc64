"""Export registered Keras models to TF.js graph models and a manifest that the web page reads."""

import hashlib
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

logger = logging.getLogger(__name__)

LABELS = ["cat", "dog"]  # contract 2: 0 = cat, 1 = dog; the model outputs the probability of "dog"
MODEL_JSON = "model.json"


def _version_record(client: MlflowClient, version: ModelVersion) -> dict[str, Any]:
    """What the manifest needs from one registry version: its tags (contract 4) and test metrics."""
    missing = {"variant", "color_mode", "image_height", "image_width"} - version.tags.keys()
    if missing:
        raise ValueError(
            f"Model version {version.name}/{version.version} lacks the tags {sorted(missing)}; "
            "training registers every version with variant, color_mode, image_height, image_width"
        )
    # search_model_versions() leaves aliases out, get_model_version() fills them in.
    full = client.get_model_version(version.name, version.version)
    metrics = client.get_run(full.run_id).data.metrics
    return {
        "version": str(full.version),
        "variant": full.tags["variant"],
        "aliases": sorted(full.aliases),
        "run_id": full.run_id,
        "color_mode": full.tags["color_mode"],
        "height": int(full.tags["image_height"]),
        "width": int(full.tags["image_width"]),
        "metrics": {k: v for k, v in sorted(metrics.items()) if k.startswith("test_")},
    }


def select_model_versions(
    registered_model_name: str, selection: dict[str, Any]
) -> list[dict[str, Any]]:
    """Resolve the selection (alias, explicit versions, variants' latest) to registry versions.

    The alias's version comes first: the page opens the first model of the manifest by default.
    """
    client = MlflowClient()
    all_versions = client.search_model_versions(f"name = '{registered_model_name}'")
    if not all_versions:
        raise ValueError(
            f"No model named {registered_model_name!r} in the MLflow registry at "
            f"{mlflow.get_tracking_uri()}: run training first (kedro run --pipelines train)"
        )
    chosen: list[ModelVersion] = []
    if selection.get("alias"):
        try:
            alias_version = client.get_model_version_by_alias(
                registered_model_name, selection["alias"]
            )
        except mlflow.exceptions.MlflowException as error:
            raise ValueError(
                f"Alias {selection['alias']!r} is not set on {registered_model_name!r}: "
                f"{error.message}"
            ) from error
        chosen.append(alias_version)
    by_number = {int(v.version): v for v in all_versions}
    for number in selection.get("versions") or []:
        if int(number) not in by_number:
            raise ValueError(
                f"{registered_model_name!r} has no version {number}; it has {sorted(by_number)}"
            )
        chosen.append(by_number[int(number)])
    variants = selection.get("variants") or []
    latest: dict[str, ModelVersion] = {}
    for version in sorted(all_versions, key=lambda v: int(v.version)):
        latest[version.tags.get("variant", "")] = version
    if variants == "all":
        variants = sorted(name for name in latest if name)
    for variant in variants:
        if variant not in latest:
            raise ValueError(
                f"No version of {registered_model_name!r} is tagged variant={variant!r}; "
                f"variants present: {sorted(name for name in latest if name)}"
            )
        chosen.append(latest[variant])
    if not chosen:
        raise ValueError("export.models selects nothing: set an alias, versions or variants")
    unique = list({int(v.version): v for v in chosen}.values())
    return [_version_record(client, version) for version in unique]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _convert(model_uri: str, destination: Path, float16: bool) -> tuple[int, int, int]:
    """Keras model → SavedModel (`model.export`) → TF.js graph model; returns the input shape."""
    model = mlflow.keras.load_model(model_uri)
    with tempfile.TemporaryDirectory() as scratch:
        saved_model = Path(scratch) / "saved_model"
        model.export(saved_model, format="tf_saved_model", verbose=False)
        convert_tf_saved_model(
            str(saved_model),
            str(destination),
            quantization_dtype_map={"float16": True} if float16 else None,
        )
    return tuple(model.input_shape[1:])


def _float16(setting: bool | list[str], variant: str) -> bool:
    """`float16` is true, false, or the variants whose weights are stored as float16."""
    return variant in setting if isinstance(setting, list) else bool(setting)


def export_tfjs_models(
    versions: list[dict[str, Any]], registered_model_name: str, options: dict[str, Any]
) -> dict[str, Any]:
    """Convert each version into `options.output_dir/<variant>/`; return the page's manifest."""
    output_dir = Path(options["output_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    # Model folders are this node's build outputs: drop those a previous export left behind.
    for stale in output_dir.glob(f"*/{MODEL_JSON}"):
        shutil.rmtree(stale.parent)
    variant_counts: dict[str, int] = {}
    for record in versions:
        variant_counts[record["variant"]] = variant_counts.get(record["variant"], 0) + 1

    entries = []
    for record in versions:
        # Two versions of one variant cannot share a folder: suffix the version only then.
        model_id = record["variant"]
        if variant_counts[model_id] > 1:
            model_id = f"{model_id}-v{record['version']}"
        destination = output_dir / model_id
        logger.info(
            "Exporting %s version %s (%s) to %s",
            registered_model_name,
            record["version"],
            record["variant"],
            destination,
        )
        float16 = _float16(options["float16"], record["variant"])
        input_shape = _convert(
            f"models:/{registered_model_name}/{record['version']}", destination, float16
        )
        channels = 1 if record["color_mode"] == "grayscale" else 3
        if input_shape != (record["height"], record["width"], channels):
            raise ValueError(
                f"Version {record['version']} takes input {input_shape} but its tags say "
                f"{record['height']}x{record['width']} {record['color_mode']}"
            )
        files = {
            path.name: {"sha256": _sha256(path), "bytes": path.stat().st_size}
            for path in sorted(destination.iterdir())
        }
        entries.append(
            {
                "id": model_id,
                "variant": record["variant"],
                "registered_model_name": registered_model_name,
                "version": record["version"],
                "aliases": record["aliases"],
                "run_id": record["run_id"],
                "metrics": record["metrics"],
                "labels": LABELS,
                "output": "sigmoid probability of labels[1]",
                "input": {
                    "height": record["height"],
                    "width": record["width"],
                    "channels": channels,
                    "color_mode": record["color_mode"],
                    "channel_order": "RGB" if channels == 3 else "gray",
                    "value_range": [0, 255],
                    "resize": options["resize"],
                },
                "quantization": "float16" if float16 else "none",
                "model_url": f"{model_id}/{MODEL_JSON}",
                "files": files,
                "size_bytes": sum(f["bytes"] for f in files.values()),
            }
        )
    return {"default_model": entries[0]["id"], "models": entries}
