"""The report pipeline in a real project: `kedro run` wrote it from every variant's history and
metrics, and logged it to its MLflow run."""

import mlflow
import pandas as pd
import pytest

from tests.conftest import SMALL_VARIANTS, SmallProject


@pytest.mark.slow
def test_the_report_has_every_trained_variant_and_its_run_holds_it(trained_project: SmallProject):
    study = trained_project.path / "data/08_reporting/study"
    table = pd.read_csv(study / "table.csv")
    assert table["variant"].tolist() == SMALL_VARIANTS
    assert table[["train_accuracy", "validation_accuracy", "test_accuracy"]].notna().all().all()
    assert (table["best_epoch"] <= table["epochs_trained"]).all()
    # cnn and transfer only: no technique has both its variants here
    assert pd.read_csv(study / "effects.csv").empty
    assert (study / "curves.png").read_bytes().startswith(b"\x89PNG")

    client = mlflow.MlflowClient(trained_project.tracking_uri)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    logged = {
        run.info.run_id: {
            artifact.path for artifact in client.list_artifacts(run.info.run_id, "study")
        }
        for run in client.search_runs(experiments)
    }
    [report] = [paths for paths in logged.values() if paths]  # one run holds the report
    assert report == {"study/table.csv", "study/effects.csv", "study/curves.png"}
