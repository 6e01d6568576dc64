"""`kedro run --pipelines fetch`, `ingest` then `preprocess` through real KedroSessions."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import copy_project, run_kedro

OUTPUTS = [
    "data/02_intermediate/image_manifest.parquet",
    "data/03_primary/image_splits.parquet",
    "data/05_model_input/gray100.npz",
    "data/05_model_input/rgb192.npz",
    "data/08_reporting/ingestion_report.json",
]


def run(project: Path, pipeline: str, source: Path) -> None:
    run_kedro(project, [pipeline], {"ingest": {"source": str(source)}})


@pytest.fixture
def project(project_root: Path, tmp_path: Path) -> Path:
    return copy_project(project_root, tmp_path / "project")


@pytest.mark.slow
def test_ingest_then_preprocess_writes_reproducible_outputs(
    project: Path, small_source_zip: Path
) -> None:
    run(project, "fetch", small_source_zip)
    run(project, "ingest", small_source_zip)
    run(project, "preprocess", small_source_zip)

    report = json.loads((project / OUTPUTS[-1]).read_text())
    assert report["labels"] == {"cat": 150, "dog": 150}
    assert report["source"] == "data/01_raw/image_source"  # read through the link to the zip
    assert os.readlink(project / "data/01_raw/image_source") == str(small_source_zip)
    splits = pd.read_parquet(project / OUTPUTS[1])
    assert splits["split"].value_counts().to_dict() == {"train": 240, "validation": 30, "test": 30}
    with np.load(project / OUTPUTS[2]) as gray100, np.load(project / OUTPUTS[3]) as rgb192:
        assert gray100["train_images"].shape == (240, 100, 100, 1)
        assert rgb192["validation_images"].shape == (30, 192, 192, 3)
        assert list(gray100["test_paths"]) == list(rgb192["test_paths"])
        assert gray100["test_labels"].sum() == 15

    first = {output: (project / output).read_bytes() for output in OUTPUTS}
    run(project, "fetch", small_source_zip)
    run(project, "ingest", small_source_zip)
    run(project, "preprocess", small_source_zip)
    for output, data in first.items():
        assert (project / output).read_bytes() == data, f"{output} changed between two runs"
