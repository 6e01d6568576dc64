"""Export the champion (and the variants) to TF.js graph models and the manifest the page reads.

Only DVC-tracked model files are exported, each checked against the MD5 its record names: the
page serves exactly the models dvc.lock records, whatever the registry says meanwhile.
"""

import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from cat_dog_classifier.labels import LABELS
from cat_dog_classifier.model_files import load_keras_model, model_md5

logger = logging.getLogger(__name__)

MODEL_JSON = "model.json"
MANIFEST = "manifest.json"
LINEAGE_KEYS = (
    "registered_model_name",
    "version",
    "model_md5",
    "registered_run_id",
    "training_run_id",
    "git_commit",
    "git_dirty",
    "data_md5",
    "split_sha256",
)


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
    for record in chosen:  # two versions of one variant cannot share a folder
        twins = [r for r in chosen if r["variant"] == record["variant"]]
        record["id"] = record["variant"]
        if len(twins) > 1 and record is not twins[-1]:
            record["id"] = f"{record['variant']}-v{record['version']}"
    return chosen


def export_tfjs_models(
    exports: list[dict[str, Any]],
    champion_file: bytes,
    float16_architectures: list[str],
    fold_batch_norm: bool = True,
    **variant_files: bytes,
) -> dict[str, bytes]:
    """Convert each selected model file into a TF.js graph model, with its batch normalisations
    folded into the convolutions unless `fold_batch_norm` is false; return every file of the page's
    models/ folder (`<id>/model.json`, its weight shards, and `manifest.json`) by relative path."""
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
        **{key: record.get(key) for key in LINEAGE_KEYS},
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
        return {path.name: path.read_bytes() for path in sorted(converted.iterdir())}
