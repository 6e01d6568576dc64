"""DVC experiments as docs/experiments.md gives them: `dvc exp run -S` on a parameter in conf/base
retrains only the variant it changes, and `dvc exp show` reports the new value and the metrics."""

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.conftest import SmallProject, clone_project, dvc, run_command


def variant_runs(project: Path, stage: str, variant: str) -> int:
    """MLflow runs of the project's own store for the variant (its child run) in the DVC stage."""
    with sqlite3.connect(project / "mlflow.db") as store:
        (count,) = store.execute(
            "SELECT COUNT(*) FROM tags AS stage JOIN tags AS variant USING (run_uuid) "
            "WHERE stage.key = 'dvc_stage' AND stage.value = ? "
            "AND variant.key = 'variant' AND variant.value = ?",
            (stage, variant),
        ).fetchone()
    return count


@pytest.mark.slow
def test_dvc_exp_run_retrains_one_variant_and_exp_show_reports_it(
    reproduced_project: SmallProject, tmp_path: Path
) -> None:
    project = clone_project(reproduced_project, tmp_path / "project").path
    runs_before = variant_runs(project, "train@cnn", "cnn")

    output = dvc(
        project, "exp", "run", "-S", "conf/base/parameters_train.yml:variants.cnn.training.epochs=2"
    )

    assert "Running stage 'train@cnn'" in output
    assert "Running stage 'evaluate@cnn'" in output
    assert "Stage 'train@transfer' didn't change, skipping" in output
    assert "Stage 'preprocess' didn't change, skipping" in output
    history = json.loads((project / "data/08_reporting/training_history/cnn.json").read_text())
    assert len(history) == 2  # trained anew for the 2 epochs set
    assert (
        variant_runs(project, "train@cnn", "cnn") == runs_before + 1
    )  # its MLflow run, as under repro

    shown = run_command([sys.executable, "-m", "dvc", "exp", "show", "--json"], project)
    assert shown.returncode == 0, shown.stderr
    (baseline,) = [commit for commit in json.loads(shown.stdout) if commit["rev"] != "workspace"]
    (experiment,) = [rev for group in baseline["experiments"] for rev in group["revs"]]

    def epochs(entry: dict) -> int:
        params = entry["data"]["params"]["kedro_params.yaml"]["data"]
        return params["variants"]["cnn"]["training"]["epochs"]

    assert epochs(baseline) == 4  # make_small's
    assert epochs(experiment) == 2
    metrics = experiment["data"]["metrics"]["data/08_reporting/metrics/cnn.json"]["data"]
    assert 0.0 <= metrics["validation"]["accuracy"] <= 1.0
    assert metrics["validation"]["images"] > 0
