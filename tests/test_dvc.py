"""`dvc repro` on a temporary copy of the project rebuilds exactly what changed."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import copy_project, tracking_uri


def _run(args: list[str], cwd: Path) -> str:
    env = os.environ | {
        # The stages call `kedro`: the one of this environment.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": tracking_uri(cwd),
    }
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def project_copy(project_root: Path, small_source_zip: Path, tmp_path: Path) -> Path:
    """A copy of the project in a fresh git repository, reading the small source zip."""
    copy = copy_project(project_root, tmp_path / "project")
    params_file = copy / "conf/base/parameters_ingest.yml"
    params = yaml.safe_load(params_file.read_text())
    params["ingest"]["source"] = str(small_source_zip)
    params_file.write_text(yaml.safe_dump(params))
    _run(["git", "init", "-q"], copy)
    return copy


def _dvc(copy: Path, *args: str) -> str:
    return _run([sys.executable, "-m", "dvc", *args], copy)


def test_repro_rebuilds_exactly_what_changed(project_copy: Path) -> None:
    first = _dvc(project_copy, "repro", "preprocess")
    assert "Running stage 'ingest'" in first
    assert "Running stage 'preprocess'" in first
    model_input = project_copy / "data/05_model_input/gray100.npz"
    built = model_input.stat().st_mtime_ns

    # Nothing changed: nothing runs, nothing is rewritten.
    second = _dvc(project_copy, "repro", "preprocess")
    assert "Running stage" not in second
    assert model_input.stat().st_mtime_ns == built

    # A preprocessing parameter changed: preprocessing runs again, ingestion does not.
    params_file = project_copy / "conf/base/parameters_preprocess.yml"
    params = yaml.safe_load(params_file.read_text())
    params["gray100"]["image"]["height"] = 64
    params_file.write_text(yaml.safe_dump(params))
    third = _dvc(project_copy, "repro", "preprocess")
    assert "Running stage 'ingest'" not in third
    assert "Running stage 'preprocess'" in third
    with np.load(model_input) as arrays:
        assert arrays["train_images"].shape[1:] == (64, 100, 1)
