"""benchmarks/data_pipeline.py's node mode: it calls the stages' node functions itself, so it
must follow the pipelines when their inputs change (it once failed on a node's new input)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cat_dog_classifier.labels import NEITHER
from tests.benchmarks.conftest import load_benchmark
from tests.conftest import run_command


@pytest.fixture(scope="module")
def data_pipeline():
    return load_benchmark("data_pipeline")


def test_the_node_mode_runs_both_stages_with_the_photos_of_other_things(
    data_pipeline, tmp_path: Path, small_source_zip: Path, small_neither_zip: Path
):
    project = data_pipeline.copy_project(tmp_path / "project", small_source_zip, small_neither_zip)
    for stage in data_pipeline.STAGES:
        result = run_command(data_pipeline.commands("nodes", stage, small_source_zip), project)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        assert "node seconds:" in result.stdout

    manifest = pd.read_parquet(project / "data/02_intermediate/image_manifest.parquet")
    usable = manifest[manifest["status"] == "ok"]
    # the 300 pets and the 100 photos of other things of the small zips, as the stages read them
    assert (usable["label"] != NEITHER).sum() == 300
    assert (usable["label"] == NEITHER).sum() == 100
    for name, shape in (("gray100", (100, 100, 1)), ("rgb192", (192, 192, 3))):
        with np.load(project / f"data/05_model_input/{name}.npz") as arrays:
            assert arrays["train_images"].shape[1:] == shape
            assert len(arrays["test_neither_images"]) > 0
