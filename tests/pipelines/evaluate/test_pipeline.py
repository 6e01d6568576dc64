"""What a plain `kedro run` leaves after training and evaluation: files for DVC, one MLflow child
run per variant, registered versions (real KedroSession, 300 real photos, real SQLite store)."""

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from cat_dog_classifier.model_files import model_md5
from tests.conftest import SMALL_VARIANTS, SmallProject

NAME = "cat_dog_classifier"
PLOTS = [
    "training_curves",
    "confusion_matrix",
    "roc_curve",
    "misclassified",
    "neither_scores",
    "neither_mistakes",
]
SCORES = {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}


@pytest.fixture
def trained(trained_project: SmallProject) -> Iterator[Path]:
    """The trained project copy, with MLflow pointed at its store."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(trained_project.tracking_uri)
    yield trained_project.path
    mlflow.set_tracking_uri(previous)


@pytest.mark.slow
def test_local_outputs_for_dvc(trained: Path):
    reports = trained / "data/08_reporting"
    for variant in SMALL_VARIANTS:
        assert (trained / f"data/06_models/variants/{variant}.keras").is_file()
        history = json.loads((reports / f"training_history/{variant}.json").read_text())
        assert len(history) >= 1
        for plot in PLOTS:
            assert (reports / f"{variant}/{plot}.png").stat().st_size > 0
        metrics = json.loads((reports / f"metrics/{variant}.json").read_text())
        assert set(metrics) == {"validation", "test"}
        assert set(metrics["test"]) >= SCORES
        assert metrics["test"]["images"] == metrics["validation"]["images"] == 30
        evaluation = json.loads((reports / f"evaluations/{variant}.json").read_text())
        model_file = (trained / f"data/06_models/variants/{variant}.keras").read_bytes()
        assert evaluation["model_md5"] == model_md5(model_file)
        assert evaluation["test"] == {
            k: v for k, v in metrics["test"].items() if k != "confusion_matrix"
        }
    assert (reports / "model_comparison.png").stat().st_size > 0


@pytest.mark.slow
def test_one_child_run_per_variant_holds_params_curves_metrics_plots_and_model(trained: Path):
    client = MlflowClient()
    experiment = client.get_experiment_by_name(NAME)
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert parent.info.run_name == "__default__"
    assert sorted(a.path for a in client.list_artifacts(parent.info.run_id)) == [
        "champion.json",
        "plots",
        "study",  # the report pipeline's
    ]
    children = {
        run.data.tags["variant"]: run for run in runs if run.info.run_name in SMALL_VARIANTS
    }
    assert sorted(children) == sorted(SMALL_VARIANTS)
    for variant, child in children.items():
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        assert len(child.data.tags["git_commit"]) == 40
        assert child.data.tags["git_dirty"] == "false"
        model_file = (trained / f"data/06_models/variants/{variant}.keras").read_bytes()
        assert child.data.tags["trained_model_md5"] == model_md5(model_file)
        # the variant's own block under its keys, the same for every variant
        assert child.data.params["model.architecture"] in {"cnn", "transfer"}
        assert child.data.params["variant"] == variant
        assert {f"{split}_{score}" for split in ("validation", "test") for score in SCORES} <= set(
            child.data.metrics
        )
        history = json.loads(
            (trained / f"data/08_reporting/training_history/{variant}.json").read_text()
        )
        val_loss = client.get_metric_history(child.info.run_id, "val_loss")
        assert [m.step for m in val_loss] == [row["epoch"] for row in history]
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
def test_every_variant_is_registered_once_and_the_best_by_validation_is_champion(trained: Path):
    client = MlflowClient()
    versions = {v.tags["variant"]: v for v in client.search_model_versions(f"name = '{NAME}'")}
    assert sorted(versions) == sorted(SMALL_VARIANTS)
    evaluations = {
        variant: json.loads((trained / f"data/08_reporting/evaluations/{variant}.json").read_text())
        for variant in SMALL_VARIANTS
    }
    children = {
        run.data.tags["variant"]: run
        for run in client.search_runs(
            [client.get_experiment_by_name(NAME).experiment_id], "tags.registered_version != ''"
        )
    }
    for variant, version in versions.items():
        evaluation = evaluations[variant]
        assert children[variant].data.tags["registered_version"] == str(version.version)
        assert version.tags["model_md5"] == evaluation["model_md5"]
        assert float(version.tags["validation_accuracy"]) == evaluation["validation"]["accuracy"]
        assert version.tags["split_sha256"] == evaluation["split_sha256"]
        transfer = variant == "transfer"
        assert version.tags["color_mode"] == ("rgb" if transfer else "grayscale")
        assert version.tags["image_height"] == ("192" if transfer else "100")

    best = max(SMALL_VARIANTS, key=lambda v: evaluations[v]["validation"]["accuracy"])
    champion = client.get_model_version_by_alias(NAME, "champion")
    assert champion.tags["variant"] == best
    decision = json.loads((trained / "data/08_reporting/champion.json").read_text())
    assert decision["promoted"] is True
    assert decision["champion"]["variant"] == best
    assert decision["champion"]["model_md5"] == champion.tags["model_md5"]
