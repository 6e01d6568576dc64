"""ingest -> preprocess -> train -> evaluate through real KedroSessions, on 300 real photos, one
epoch per variant, logging to a real MLflow store (SQLite) in a temporary directory."""

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from tests.conftest import VARIANTS, TrainedProject, run_kedro

NAME = "cat_dog_classifier"
PLOTS = ["training_curves", "confusion_matrix", "roc_curve", "misclassified"]


@pytest.fixture
def trained(trained_project: TrainedProject) -> Iterator[tuple[Path, dict]]:
    """The trained project copy and its params, with MLflow pointed at its store."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(trained_project.tracking_uri)
    yield trained_project.path, trained_project.params
    mlflow.set_tracking_uri(previous)


@pytest.mark.slow
def test_local_outputs_for_dvc(trained):
    project, _ = trained
    for variant in VARIANTS:
        assert (project / f"data/06_models/{variant}.keras").is_file()
        history = json.loads(
            (project / f"data/08_reporting/{variant}/training_history.json").read_text()
        )
        assert [row["epoch"] for row in history] == [1]
        for plot in PLOTS:
            assert (project / f"data/08_reporting/{variant}/{plot}.png").stat().st_size > 0
    metrics = json.loads((project / "data/08_reporting/metrics.json").read_text())
    assert list(metrics) == VARIANTS
    for scores in metrics.values():
        assert set(scores) == {
            "accuracy",
            "precision",
            "recall",
            "f1",
            "roc_auc",
            "log_loss",
            "test_images",
        }
        assert scores["test_images"] == 30
    assert (project / "data/08_reporting/model_comparison.png").stat().st_size > 0


@pytest.mark.slow
def test_one_child_run_per_variant_holds_params_metrics_plots_and_model(trained):
    client = MlflowClient()
    experiment = client.get_experiment_by_name(NAME)
    runs = client.search_runs([experiment.experiment_id])
    parents = {run.info.run_name: run for run in runs if "mlflow.parentRunId" not in run.data.tags}
    assert sorted(parents) == ["ingest+preprocess", "train+evaluate"]
    parent = parents["train+evaluate"]
    children = {run.data.tags["variant"]: run for run in runs if run.info.run_name in VARIANTS}
    assert sorted(children) == sorted(VARIANTS)
    assert sorted(a.path for a in client.list_artifacts(parent.info.run_id)) == [
        "champion.json",
        "plots",
    ]
    for variant, child in children.items():
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        assert child.data.params[f"{variant}.training.epochs"] == "1"
        assert child.data.params[f"{variant}.model.architecture"] in {"cnn", "transfer"}
        assert {
            "test_accuracy",
            "test_precision",
            "test_recall",
            "test_f1",
            "test_roc_auc",
            "test_log_loss",
        } <= set(child.data.metrics)
        assert [m.step for m in client.get_metric_history(child.info.run_id, "val_loss")] == [1]
        plots = {Path(a.path).name for a in client.list_artifacts(child.info.run_id, "plots")}
        assert plots == {f"{plot}.png" for plot in PLOTS}
        [model] = mlflow.search_logged_models(
            experiment_ids=[experiment.experiment_id],
            filter_string=f"source_run_id = '{child.info.run_id}'",
            output_format="list",
        )
        info = mlflow.models.get_model_info(f"models:/{model.model_id}")
        assert "keras" in info.flavors
        assert info.signature is not None and info.saved_input_example_info is not None


@pytest.mark.slow
def test_every_variant_is_registered_and_the_best_is_champion(trained):
    project, _ = trained
    client = MlflowClient()
    metrics = json.loads((project / "data/08_reporting/metrics.json").read_text())
    versions = {v.tags["variant"]: v for v in client.search_model_versions(f"name = '{NAME}'")}
    assert sorted(versions) == sorted(VARIANTS)
    for variant, version in versions.items():
        assert float(version.tags["test_accuracy"]) == pytest.approx(metrics[variant]["accuracy"])
        transfer = variant == "transfer"
        assert version.tags["color_mode"] == ("rgb" if transfer else "grayscale")
        assert (
            version.tags["image_height"]
            == version.tags["image_width"]
            == ("96" if transfer else "100")
        )

    best = max(VARIANTS, key=lambda variant: metrics[variant]["accuracy"])
    champion = client.get_model_version_by_alias(NAME, "champion")
    assert champion.tags["variant"] == best
    decision = json.loads((project / "data/08_reporting/champion.json").read_text())
    assert decision["promoted"] is True and decision["candidate_variant"] == best

    model = mlflow.keras.load_model(f"models:/{NAME}@champion")
    data_set = "rgb160" if best == "transfer" else "gray100"
    with np.load(project / f"data/05_model_input/{data_set}.npz") as arrays:
        probabilities = model.predict(arrays["test_images"].astype("float32"), verbose=0)
    assert probabilities.shape == (30, 1)


@pytest.mark.slow
def test_one_variant_retrained_alone_with_the_same_seed_gives_the_same_metrics(trained):
    project, params = trained
    report = project / "data/08_reporting/cnn_dropout_aug/test_metrics.json"
    before = json.loads(report.read_text())
    champion = MlflowClient().get_model_version_by_alias(NAME, "champion").version
    run_kedro(project, ["train", "evaluate"], params, namespaces=["cnn_dropout_aug"])
    assert json.loads(report.read_text()) == before
    versions = MlflowClient().search_model_versions(f"name = '{NAME}'")
    assert len(versions) == len(VARIANTS) + 1
    # Only the namespace ran: the champion choice (outside it) did not.
    assert MlflowClient().get_model_version_by_alias(NAME, "champion").version == champion
