"""A plain `kedro run` on a fresh registry exports exactly the champion it has just trained and
chosen, with every variant beside it (real KedroSession, real files, real SQLite MLflow store)."""

import json

import pytest
from mlflow import MlflowClient

from cat_dog_classifier.model_files import model_md5
from tests.conftest import SMALL_VARIANTS, SmallProject


@pytest.mark.slow
def test_the_page_gets_the_champion_just_trained_and_every_variant(trained_project: SmallProject):
    project = trained_project.path
    manifest = json.loads((project / "web/models/manifest.json").read_text())
    decision = json.loads((project / "data/08_reporting/champion.json").read_text())
    champion_file = (project / "data/06_models/champion.keras").read_bytes()
    champion = decision["champion"]

    assert model_md5(champion_file) == champion["model_md5"]
    assert (
        champion_file
        == (project / f"data/06_models/variants/{champion['variant']}.keras").read_bytes()
    )
    registered = MlflowClient(trained_project.tracking_uri).get_model_version_by_alias(
        "cat_dog_classifier", "champion"
    )
    assert registered.tags["model_md5"] == champion["model_md5"]

    first = manifest["models"][0]
    assert manifest["default_model"] == first["id"] == champion["variant"]
    assert first["aliases"] == ["champion"]
    assert first["model_md5"] == champion["model_md5"]
    # The registry's view of it, beside the manifest (not a DVC output: .dvcignore).
    lineage = json.loads((project / "web/models/lineage.json").read_text())[first["model_md5"]]
    assert lineage["version"] == str(registered.version)
    assert lineage["registered_run_id"] == registered.run_id
    assert len(lineage["git_commit"]) == 40
    assert sorted(entry["variant"] for entry in manifest["models"]) == sorted(SMALL_VARIANTS)
    for entry in manifest["models"]:
        folder = project / "web/models" / entry["id"]
        assert sorted(entry["files"]) == sorted(p.name for p in folder.iterdir())
        assert entry["quantization"] == ("float16" if entry["architecture"] == "cnn" else "none")
        variant_file = project / f"data/06_models/variants/{entry['variant']}.keras"
        assert entry["model_md5"] == model_md5(variant_file.read_bytes())
    assert sorted(p.name for p in (project / "web/models").iterdir()) == sorted(
        [entry["id"] for entry in manifest["models"]] + ["lineage.json", "manifest.json"]
    )
