"""Export nodes: which models ship, and a real Keras file converted to a TF.js graph model."""

import hashlib
import json
from pathlib import Path

import keras
import pytest

from cat_dog_classifier import registry
from cat_dog_classifier.lineage import RUN_IDENTITIES
from cat_dog_classifier.model_files import model_md5
from cat_dog_classifier.pipelines.export.nodes import (
    LINEAGE,
    MANIFEST,
    convert_to_tfjs,
    export_tfjs_models,
    find_lineage,
    select_exports,
)


def make_record(variant: str, md5: str, architecture: str = "cnn") -> dict:
    """A model's record as champion.json holds it: content only (lineage.RUN_IDENTITIES are not)."""
    return {
        "variant": variant,
        "architecture": architecture,
        "registered_model_name": "cat_dog_classifier",
        "model_md5": md5,
        "data_md5": "d" * 32,
        "split_sha256": "s" * 64,
        "input": {
            "height": 32,
            "width": 32,
            "channels": 1,
            "color_mode": "grayscale",
            "interpolation": "area",
        },
        "validation": {"accuracy": 0.9, "images": 30},
        "test": {"accuracy": 0.88, "images": 30},
    }


def make_decision(champion: dict, **candidates: dict) -> dict:
    return {"alias": "champion", "champion": champion, "candidates": candidates}


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Two small real models of the study's kind, on 32x32 grayscale, as `.keras` bytes."""
    folder = tmp_path_factory.mktemp("models")
    files = {}
    for seed, name in enumerate(("cnn", "cnn_dropout")):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((32, 32, 1), name="image")
        x = keras.layers.Rescaling(1 / 255)(inputs)
        x = keras.layers.Conv2D(8, 3, activation="relu")(x)
        x = keras.layers.Flatten()(keras.layers.MaxPooling2D()(x))
        outputs = keras.layers.Dense(1, activation="sigmoid", name="dog_probability")(x)
        keras.Model(inputs, outputs).save(folder / f"{name}.keras")
        files[name] = (folder / f"{name}.keras").read_bytes()
    return files


def test_the_champion_ships_first_and_each_other_variant_once():
    cnn, transfer = make_record("cnn", "1" * 32), make_record("transfer", "2" * 32)
    chosen = select_exports(make_decision(transfer, cnn=cnn, transfer=transfer), "all")
    assert [(r["id"], r["aliases"]) for r in chosen] == [("transfer", ["champion"]), ("cnn", [])]
    assert select_exports(make_decision(transfer, cnn=cnn, transfer=transfer), []) == chosen[:1]


def test_a_kept_older_champion_and_its_variants_new_model_both_ship():
    old, new = make_record("transfer", "1" * 32), make_record("transfer", "3" * 32)
    chosen = select_exports(make_decision(old, transfer=new), "all")
    assert [r["id"] for r in chosen] == ["transfer-11111111", "transfer"]


def test_an_unknown_variant_to_export_is_an_error():
    cnn = make_record("cnn", "1" * 32)
    with pytest.raises(ValueError, match=r"names \['resnet'\], which are not variants"):
        select_exports(make_decision(cnn, cnn=cnn), ["resnet"])


def test_export_converts_the_exact_files_and_describes_them(model_files):
    champion = make_record("cnn", model_md5(model_files["cnn"]))
    other = make_record("cnn_dropout", model_md5(model_files["cnn_dropout"]))
    exports = select_exports(make_decision(champion, cnn=champion, cnn_dropout=other), "all")

    lineage = {champion["model_md5"]: {"version": "3", "training_run_id": "f00d"}}
    files = export_tfjs_models(exports, model_files["cnn"], ["cnn"], lineage=lineage, **model_files)

    manifest = json.loads(files[MANIFEST])
    assert json.loads(files[LINEAGE]) == lineage
    assert files[MANIFEST].decode() == json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    assert manifest["default_model"] == "cnn"
    first, second = manifest["models"]
    assert (first["id"], first["aliases"], second["id"]) == ("cnn", ["champion"], "cnn_dropout")
    assert json.loads(files["cnn/model.json"])["format"] == "graph-model"
    assert set(first["files"]) == {
        name.split("/", 1)[1] for name in files if name.startswith("cnn/")
    }
    for name, described in first["files"].items():
        data = files[f"cnn/{name}"]
        assert described == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert first["size_bytes"] == sum(f["bytes"] for f in first["files"].values())
    for key in ("registered_model_name", "model_md5", "data_md5", "split_sha256"):
        assert first[key] == champion[key], key
    assert not set(first) & set(RUN_IDENTITIES)  # lineage.json's, which DVC does not track
    assert first["metrics"] == {"validation_accuracy": 0.9, "test_accuracy": 0.88}
    assert first["labels"] == ["cat", "dog"]
    assert first["input"] == {
        "height": 32,
        "width": 32,
        "channels": 1,
        "color_mode": "grayscale",
        "channel_order": "gray",
        "value_range": [0, 255],
        "resize": {"interpolation": "area", "keep_aspect_ratio": False},
    }
    assert first["quantization"] == "float16"
    weights = json.loads(files["cnn/model.json"])["weightsManifest"]
    floats = [w for group in weights for w in group["weights"] if w["dtype"] == "float32"]
    assert floats and all(w["quantization"]["dtype"] == "float16" for w in floats)


def test_float16_is_chosen_by_architecture(model_files):
    record = make_record("cnn", model_md5(model_files["cnn"]))
    exports = select_exports(make_decision(record, cnn=record), [])
    half = json.loads(export_tfjs_models(exports, model_files["cnn"], ["cnn"])[MANIFEST])
    full = json.loads(export_tfjs_models(exports, model_files["cnn"], ["transfer"])[MANIFEST])
    assert (half["models"][0]["quantization"], full["models"][0]["quantization"]) == (
        "float16",
        "none",
    )

    def weight_bytes(manifest: dict) -> int:
        files = manifest["models"][0]["files"]
        return sum(f["bytes"] for name, f in files.items() if name.endswith(".bin"))

    assert weight_bytes(half) < 0.55 * weight_bytes(full)


def test_a_depthwise_convolutions_batch_norm_folds_into_one_fused_kernel(tmp_path: Path):
    """MobileNetV2's block: depthwise convolution, batch normalisation, ReLU6."""
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.DepthwiseConv2D(3, use_bias=False)(inputs)
    x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="dog_probability")(x)
    keras.Model(inputs, outputs).save(tmp_path / "block.keras")
    model_file = (tmp_path / "block.keras").read_bytes()

    def ops(fold: bool) -> list[str]:
        graph = json.loads(convert_to_tfjs(model_file, False, (16, 16, 3), fold)["model.json"])
        nodes = graph["modelTopology"]["node"]
        return sorted(node["op"] for node in nodes if node["op"] != "Const")

    assert "FusedDepthwiseConv2dNative" in ops(fold=True)
    assert "DepthwiseConv2dNative" not in ops(fold=True)
    assert "Mul" not in ops(fold=True)
    # what the converter makes of it alone: the convolution, the normalisation's Mul and Add, ReLU6
    assert {"DepthwiseConv2dNative", "Mul", "Relu6"} <= set(ops(fold=False))


def test_a_file_that_is_not_the_recorded_model_is_refused(model_files):
    record = make_record("cnn", model_md5(model_files["cnn"]))
    exports = select_exports(make_decision(record, cnn=record), [])
    with pytest.raises(ValueError, match="run `dvc repro`"):
        export_tfjs_models(exports, model_files["cnn_dropout"], ["cnn"])


def test_a_model_whose_input_is_not_its_records_is_refused(model_files):
    record = make_record("cnn", model_md5(model_files["cnn"]))
    record["input"] = {**record["input"], "height": 100, "width": 100}
    exports = select_exports(make_decision(record, cnn=record), [])
    with pytest.raises(ValueError, match=r"takes input \(32, 32, 1\), its record says"):
        export_tfjs_models(exports, model_files["cnn"], ["cnn"])


def test_manifest_paths_stay_inside_the_models_folder(model_files, tmp_path: Path):
    record = make_record("cnn", model_md5(model_files["cnn"]))
    files = export_tfjs_models(
        select_exports(make_decision(record, cnn=record), []), model_files["cnn"], ["cnn"]
    )
    for name in files:
        assert not Path(name).is_absolute() and ".." not in Path(name).parts


def test_the_same_models_export_to_the_same_bytes(model_files):
    record = make_record("cnn", model_md5(model_files["cnn"]))
    exports = select_exports(make_decision(record, cnn=record), [])

    first = export_tfjs_models(exports, model_files["cnn"], ["cnn"])
    second = export_tfjs_models(exports, model_files["cnn"], ["cnn"])

    assert first == second


def test_lineage_is_what_the_registry_knows_of_each_exported_model(mlflow_store, model_files):
    known = make_record("cnn", model_md5(model_files["cnn"]))
    unknown = make_record("cnn_dropout", model_md5(model_files["cnn_dropout"]))
    tags = {"training_run_id": "f00d", "git_commit": "c" * 40, "git_dirty": "false"}
    registered = registry.register_model_file(
        model_files["cnn"], "cat_dog_classifier", registry.version_tags(known | tags)
    )

    lineage = find_lineage(select_exports(make_decision(known, cnn_dropout=unknown), "all"))

    assert lineage == {
        known["model_md5"]: {
            "version": registered["version"],
            "registered_run_id": registered["run_id"],
            **tags,
        },
        unknown["model_md5"]: dict.fromkeys(RUN_IDENTITIES),
    }
