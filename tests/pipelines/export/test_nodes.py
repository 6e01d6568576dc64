"""Export nodes against a real MLflow registry of models trained on real photos."""

import hashlib
import json
from pathlib import Path

import pytest

from cat_dog_classifier.pipelines.export.nodes import export_tfjs_models, select_model_versions

from .trained_registry import REGISTERED_MODEL_NAME, TrainedRegistry

NOTHING = {"alias": None, "versions": [], "variants": []}
TFJS_OPTIONS = {
    "float16": False,
    "resize": {"interpolation": "area", "keep_aspect_ratio": False},
}


def test_the_champion_alias_selects_its_version_with_tags_and_metrics(
    registry_uri: str, trained_registry: TrainedRegistry
):
    [record] = select_model_versions(REGISTERED_MODEL_NAME, {**NOTHING, "alias": "champion"})

    assert record["version"] == trained_registry.versions["transfer"]
    assert record["variant"] == "transfer"
    assert record["aliases"] == ["champion"]
    assert (record["color_mode"], record["height"], record["width"]) == ("rgb", 160, 160)
    assert 0.5 < record["metrics"]["test_accuracy"] <= 1
    assert all(name.startswith("test_") for name in record["metrics"])


def test_all_variants_come_after_the_alias_once_each(registry_uri: str):
    records = select_model_versions(
        REGISTERED_MODEL_NAME, {**NOTHING, "alias": "champion", "variants": "all"}
    )

    assert [r["variant"] for r in records] == ["transfer", "cnn"]


def test_an_explicit_version_is_selected(registry_uri: str, trained_registry: TrainedRegistry):
    version = trained_registry.versions["cnn"]
    [record] = select_model_versions(REGISTERED_MODEL_NAME, {**NOTHING, "versions": [version]})

    assert (record["version"], record["variant"], record["aliases"]) == (version, "cnn", [])


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({**NOTHING, "alias": "staging"}, "Alias 'staging' is not set"),
        ({**NOTHING, "versions": [99]}, "has no version 99"),
        ({**NOTHING, "variants": ["resnet"]}, "variant='resnet'"),
        (NOTHING, "selects nothing"),
    ],
)
def test_a_selection_the_registry_cannot_satisfy_says_why(
    registry_uri: str, selection: dict, message: str
):
    with pytest.raises(ValueError, match=message):
        select_model_versions(REGISTERED_MODEL_NAME, selection)


def test_an_unknown_registered_model_names_the_store(registry_uri: str):
    with pytest.raises(ValueError, match=r"No model named 'dogs_only'.*run training first"):
        select_model_versions("dogs_only", {**NOTHING, "alias": "champion"})


def _export(tmp_path: Path, variants: list[str], float16: bool | list[str] = False) -> dict:
    records = select_model_versions(REGISTERED_MODEL_NAME, {**NOTHING, "variants": variants})
    options = {**TFJS_OPTIONS, "output_dir": str(tmp_path / "models"), "float16": float16}
    return export_tfjs_models(records, REGISTERED_MODEL_NAME, options)


def test_export_writes_a_graph_model_and_describes_every_file(
    registry_uri: str, trained_registry: TrainedRegistry, tmp_path: Path
):
    manifest = _export(tmp_path, ["cnn"])

    [entry] = manifest["models"]
    assert manifest["default_model"] == entry["id"] == "cnn"
    folder = tmp_path / "models" / "cnn"
    model_json = json.loads((folder / "model.json").read_text())
    assert model_json["format"] == "graph-model"
    assert entry["model_url"] == "cnn/model.json"
    assert set(entry["files"]) == {path.name for path in folder.iterdir()}
    for name, described in entry["files"].items():
        data = (folder / name).read_bytes()
        assert described == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert entry["size_bytes"] == sum(f["bytes"] for f in entry["files"].values())
    assert entry["version"] == trained_registry.versions["cnn"]
    assert entry["labels"] == ["cat", "dog"]
    assert entry["input"] == {
        "height": 100,
        "width": 100,
        "channels": 1,
        "color_mode": "grayscale",
        "channel_order": "gray",
        "value_range": [0, 255],
        "resize": TFJS_OPTIONS["resize"],
    }
    assert entry["quantization"] == "none"


def test_float16_halves_the_weights(registry_uri: str, tmp_path: Path):
    full = _export(tmp_path / "full", ["cnn"])["models"][0]
    half = _export(tmp_path / "half", ["cnn"], float16=True)["models"][0]

    assert half["quantization"] == "float16"
    weights = json.loads((tmp_path / "half" / "models" / "cnn" / "model.json").read_text())
    floats = [w for group in weights["weightsManifest"] for w in group["weights"]]
    assert floats
    assert all(w["quantization"]["dtype"] == "float16" for w in floats if w["dtype"] == "float32")
    assert half["size_bytes"] < 0.55 * full["size_bytes"]


def test_float16_can_be_chosen_per_variant(registry_uri: str, tmp_path: Path):
    manifest = _export(tmp_path, ["cnn", "transfer"], float16=["cnn"])

    quantization = {entry["variant"]: entry["quantization"] for entry in manifest["models"]}
    assert quantization == {"cnn": "float16", "transfer": "none"}


def test_a_new_export_removes_model_folders_left_by_the_previous_one(
    registry_uri: str, tmp_path: Path
):
    _export(tmp_path, ["cnn", "transfer"])
    _export(tmp_path, ["cnn"])

    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["cnn"]
