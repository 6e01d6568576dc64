"""Export the champion (and the variants) to TF.js graph models and the manifest the page reads.

Only DVC-tracked model files are exported, each checked against the MD5 its record names: the
page serves exactly the models dvc.lock records, whatever the registry says meanwhile. The
manifest names each model by content; its registry version and runs, which another MLflow store
numbers otherwise, go beside it to lineage.json, which DVC does not track (.dvcignore).
"""

import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from cat_dog_classifier.labels import LABELS
from cat_dog_classifier.lineage import RUN_IDENTITIES
from cat_dog_classifier.model_files import load_keras_model, model_md5

logger = logging.getLogger(__name__)

MODEL_JSON = "model.json"
MANIFEST = "manifest.json"
# Each exported model's registry version, runs and commit, by model MD5: the page adds them to its
# manifest entry. Not a DVC output (.dvcignore names it): it describes this machine's MLflow store.
LINEAGE = "lineage.json"
# What identifies a model in the manifest: content only, so a rerun writes the same manifest.
CONTENT_KEYS = ("registered_model_name", "model_md5", "data_md5", "split_sha256")


def select_exports(
    decision: dict[str, Any], variants_to_export: str | list[str]
) -> list[dict[str, Any]]:
    """The records to export: the champion first (the page opens it), then each selected variant
    (`all`, or a list) unless it is the champion's very model file. Each has its page `id`."""
    champion = decision["champion"]
    candidates = decision["candidates"]
    names = list(candidates) if variants_to_export == "all" else list(variants_to_export)
    unknown = sorted(set(names) - set(candidates))
    if unknown:
        raise ValueError(
            f"export.variants names {unknown}, which are not variants; variants: {list(candidates)}"
        )
    chosen = [{**champion, "aliases": [decision["alias"]]}]
    chosen += [
        {**candidates[name], "aliases": []}
        for name in names
        if candidates[name]["model_md5"] != champion["model_md5"]
    ]
    for record in chosen:  # two models of one variant cannot share a folder
        twins = [r for r in chosen if r["variant"] == record["variant"]]
        record["id"] = record["variant"]
        if len(twins) > 1 and record is not twins[-1]:
            record["id"] = f"{record['variant']}-{record['model_md5'][:8]}"
    return chosen


def find_lineage(exports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each exported model's registry version, the run that registered it, its training run and
    that run's commit, by model MD5, as this machine's registry knows them (empty where it does
    not know the model)."""
    from cat_dog_classifier import registry  # noqa: PLC0415 - MLflow and TensorFlow load here

    lineage = {}
    for record in exports:
        version = registry.find_version(record["registered_model_name"], record["model_md5"])
        known = registry.version_record(version) if version else {}
        lineage[record["model_md5"]] = {key: known.get(key) for key in RUN_IDENTITIES}
    return lineage


def export_tfjs_models(
    exports: list[dict[str, Any]],
    champion_file: bytes,
    float16_architectures: list[str],
    fold_batch_norm: bool = True,
    lineage: dict[str, dict[str, Any]] | None = None,
    **variant_files: bytes,
) -> dict[str, bytes]:
    """Convert each selected model file into a TF.js graph model, with its batch normalisations
    folded into the convolutions unless `fold_batch_norm` is false; return every file of the page's
    models/ folder (`<id>/model.json`, its weight shards, `manifest.json`, and `lineage.json`
    holding `lineage`, the registry's view of each model, `find_lineage`) by relative path."""
    files: dict[str, bytes] = {}
    entries = []
    for record in exports:
        model_file = champion_file if record["aliases"] else variant_files[record["variant"]]
        if model_md5(model_file) != record["model_md5"]:
            raise ValueError(
                f"The model file for {record['id']} has MD5 {model_md5(model_file)}, but its "
                f"record names {record['model_md5']}: run `dvc repro` (or `dvc checkout`)."
            )
        float16 = record["architecture"] in float16_architectures
        logger.info("Exporting %s (MD5 %s) to TF.js", record["id"], record["model_md5"])
        model_input = record["input"]
        expected = (model_input["height"], model_input["width"], model_input["channels"])
        converted = convert_to_tfjs(model_file, float16, expected, fold_batch_norm)
        files |= {f"{record['id']}/{name}": data for name, data in converted.items()}
        entries.append(manifest_entry(record, converted, float16))
    manifest = {"default_model": entries[0]["id"], "models": entries}
    files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    files[LINEAGE] = (json.dumps(lineage or {}, indent=2, sort_keys=True) + "\n").encode()
    return files


def manifest_entry(
    record: dict[str, Any], files: dict[str, bytes], float16: bool
) -> dict[str, Any]:
    """What the page needs to load, feed and describe one exported model."""
    model_input = record["input"]
    return {
        "id": record["id"],
        "variant": record["variant"],
        "architecture": record["architecture"],
        "aliases": record["aliases"],
        **{key: record.get(key) for key in CONTENT_KEYS},
        "metrics": {
            f"{split}_{name}": value
            for split in ("validation", "test")
            for name, value in record[split].items()
            if name != "images"
        },
        "labels": list(LABELS),
        "output": "sigmoid probability of labels[1]",
        # The third answer: `output` >= `threshold` means "no cat or dog here" (null: none).
        "neither": record.get("neither"),
        "input": {
            "height": model_input["height"],
            "width": model_input["width"],
            "channels": model_input["channels"],
            "color_mode": model_input["color_mode"],
            "channel_order": "RGB" if model_input["channels"] == 3 else "gray",
            "value_range": [0, 255],
            # Preprocessing stretched the whole photo to the input size (no crop, aspect ratio not
            # kept) with this OpenCV interpolation: the page must do the same.
            "resize": {"interpolation": model_input["interpolation"], "keep_aspect_ratio": False},
        },
        "quantization": "float16" if float16 else "none",
        "model_url": f"{record['id']}/{MODEL_JSON}",
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in sorted(files.items())
        },
        "size_bytes": sum(len(data) for data in files.values()),
    }


def convert_to_tfjs(
    model_file: bytes,
    float16: bool,
    input_shape: tuple[int, int, int],
    fold_batch_norm: bool = True,
) -> dict[str, bytes]:
    """Keras `.keras` bytes → SavedModel (`model.export`) → TF.js graph model files, by name.

    The Keras-3 TF.js *layers* format does not load in TF.js; the graph model does. Fails if the
    model does not take `input_shape` (height, width, channels), as its record says. With
    `fold_batch_norm`, batch normalisations are folded into the convolutions before
    (`fold_batch_normalization`: the converter does not fold them into depthwise ones).
    """
    # TensorFlow and the converter load here, only when a model is exported.
    from tensorflowjs.converters.tf_saved_model_conversion_v2 import (  # noqa: PLC0415
        convert_tf_saved_model,
    )

    from cat_dog_classifier.models import fold_batch_normalization  # noqa: PLC0415

    model = load_keras_model(model_file)
    if fold_batch_norm:
        model = fold_batch_normalization(model)
    if tuple(model.input_shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"The model takes input {model.input_shape[1:]}, its record says {input_shape}"
        )
    with tempfile.TemporaryDirectory() as scratch:
        saved_model, converted = Path(scratch) / "saved_model", Path(scratch) / "tfjs"
        model.export(saved_model, format="tf_saved_model", verbose=False)
        convert_tf_saved_model(
            str(saved_model),
            str(converted),
            quantization_dtype_map={"float16": True} if float16 else None,
            # Two outputs (P(dog), neither_score): TF.js keeps their names, not Identity_N.
            use_structured_outputs_names=isinstance(model.output, dict),
        )
        files = {path.name: path.read_bytes() for path in sorted(converted.iterdir())}
    files[MODEL_JSON] = with_sorted_attributes(files[MODEL_JSON])
    return files


def with_sorted_attributes(model_json: bytes) -> bytes:
    """A TF.js model.json with each graph node's attributes in name order. The converter writes them
    in protobuf map order, which differs from one conversion of the same model to the next; TF.js
    reads them by name. Everything else keeps its order (the outputs' order matters to the page)."""
    model = json.loads(model_json)
    topology = model["modelTopology"]
    functions = topology.get("library", {}).get("function", [])
    for node in [*topology.get("node", []), *(n for f in functions for n in f.get("nodeDef", []))]:
        if "attr" in node:
            node["attr"] = dict(sorted(node["attr"].items()))
    return json.dumps(model).encode()
