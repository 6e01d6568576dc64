"""`kedro run --pipeline export` through a real KedroSession against a real registry."""

import json
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from .conftest import copy_project
from .trained_registry import TrainedRegistry


def test_export_pipeline_writes_the_champion_first_and_a_sorted_manifest(
    project_root: Path,
    tmp_path: Path,
    registry_uri: str,
    trained_registry: TrainedRegistry,
    monkeypatch: pytest.MonkeyPatch,
):
    project = copy_project(project_root, tmp_path / "project")
    monkeypatch.chdir(project)
    bootstrap_project(project)

    with KedroSession.create(
        project_path=project, runtime_params={"export": {"models": {"variants": "all"}}}
    ) as session:
        session.run(pipeline_name="export")

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
