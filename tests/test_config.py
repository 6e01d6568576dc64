"""The configuration as DVC reads it, and the one list of variants."""

from pathlib import Path

from cat_dog_classifier.config import base_config, variants
from tests.conftest import copy_project


def test_variants_come_from_conf_base_alone(project_root: Path, tmp_path: Path):
    project = copy_project(project_root, tmp_path / "project")
    before = variants(project)
    (project / "conf/local/parameters.yml").write_text(
        "variants:\n  extra:\n    model_input: gray100\n"
    )
    assert variants(project) == before
    assert "extra" not in base_config("parameters", project)["variants"]
    assert list(before) == list(base_config("parameters", project)["variants"])
    for block in before.values():
        assert {"model_input", "model", "training"} <= set(block)
        assert block["model_input"] in base_config("parameters", project)
