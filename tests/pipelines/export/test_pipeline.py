"""`kedro run --pipelines export` through a real KedroSession against a real registry."""

import json
from pathlib import Path

from mlflow import MlflowClient

from tests.conftest import TrainedProject, copy_project, run_kedro

from .trained_registry import TrainedRegistry


def test_export_pipeline_writes_the_champion_first_and_a_sorted_manifest(
    project_root: Path,
    tmp_path: Path,
    registry_uri: str,
    trained_registry: TrainedRegistry,
):
    project = copy_project(project_root, tmp_path / "project")
    run_kedro(project, ["export"], {"export": {"models": {"variants": "all"}}}, registry_uri)

    manifest_path = project / "web" / "models" / "manifest.json"
    text = manifest_path.read_text()
    manifest = json.loads(text)
    assert text == json.dumps(manifest, indent=2, sort_keys=True)  # deterministic for DVC
    assert manifest["default_model"] == "transfer"
    assert [(m["variant"], m["version"]) for m in manifest["models"]] == [
        ("transfer", trained_registry.versions["transfer"]),
        ("cnn", trained_registry.versions["cnn"]),
    ]
    assert manifest["models"][0]["aliases"] == ["champion"]
    for entry in manifest["models"]:
        folder = project / "web" / "models" / entry["id"]
        assert sorted(entry["files"]) == sorted(p.name for p in folder.iterdir())


def test_export_after_training_ships_the_champion_that_evaluation_chose(
    trained_project: TrainedProject,
):
    """End to end on the real trained registry: what the page loads is the registered champion."""
    run_kedro(trained_project.path, ["export"], trained_project.params)

    manifest = json.loads((trained_project.path / "web/models/manifest.json").read_text())
    champion = MlflowClient(trained_project.tracking_uri).get_model_version_by_alias(
        "cat_dog_classifier", "champion"
    )
    [entry] = manifest["models"]
    assert entry["variant"] == champion.tags["variant"]
    assert str(entry["version"]) == str(champion.version)
    assert entry["aliases"] == ["champion"]
    assert entry["run_id"] == champion.run_id
    assert entry["metrics"]["test_accuracy"] == float(champion.tags["test_accuracy"])
    assert entry["quantization"] == ("none" if entry["variant"] == "transfer" else "float16")
    assert (trained_project.path / "web/models" / entry["model_url"]).is_file()
