"""Project hooks: one MLflow run per trained variant (a `dvc repro`'s, read through MLflow's own
search API as its compare view reads them); the guard that stops `dvc repro` stages on
configuration DVC does not see."""

from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from mlflow import MlflowClient

from cat_dog_classifier.hooks import EXPERIMENT_KIND, STAGES_EXPERIMENT_SUFFIX, VariantMlflowHook
from cat_dog_classifier.model_files import model_md5
from tests.conftest import (
    SMALL_VARIANTS,
    SmallProject,
    clone_project,
    copy_project,
    run_kedro,
)

EXPERIMENT = "cat_dog_classifier"  # conf/base/mlflow.yml
# What a reader of the study compares, in every variant's run under the same keys.
STUDY_METRICS = {
    "train_accuracy",
    "validation_accuracy",
    "test_accuracy",
    "train_validation_gap",
    "epochs_trained",
    "best_epoch",
    "training_seconds",
    "training_images_per_second",
}
STUDY_PARAMS = {
    "variant",
    "model_input",
    "starts_from",
    "model.architecture",
    "training.epochs",
    "training.batch_size",
    "training.learning_rate",
    "training.early_stopping.monitor",
}


def test_the_project_hook_replaces_kedro_mlflows_own(project_root: Path):
    # Both registered, each would start its own run of every `kedro run`: the second fails.
    bootstrap_project(project_root)
    with KedroSession.create(project_path=project_root) as session:
        hooks = [
            hook for hook in session._hook_manager.get_plugins() if isinstance(hook, MlflowHook)
        ]
    assert [type(hook) for hook in hooks] == [VariantMlflowHook]


@pytest.mark.slow
def test_a_dvc_repro_logs_one_run_per_variant_with_the_study_under_the_same_keys(
    reproduced_project: SmallProject,
):
    client = MlflowClient(tracking_uri=reproduced_project.tracking_uri)
    study = client.get_experiment_by_name(EXPERIMENT)
    assert EXPERIMENT_KIND.items() <= study.tags.items()  # the UI opens on runs, not traces
    runs = client.search_runs([study.experiment_id])
    # The study's experiment holds variant runs alone, one per variant: train@ and evaluate@ log
    # into the same run, which no parent run holds.
    assert sorted(run.info.run_name for run in runs) == sorted(SMALL_VARIANTS)
    for run in runs:
        variant = run.info.run_name
        assert run.data.tags["variant"] == run.data.params["variant"] == variant
        assert "mlflow.parentRunId" not in run.data.tags
        assert run.info.status == "FINISHED"
        assert set(run.data.params) >= STUDY_PARAMS, STUDY_PARAMS - set(run.data.params)
        assert not any(key.startswith("variants.") for key in run.data.params)
        assert set(run.data.metrics) >= STUDY_METRICS, STUDY_METRICS - set(run.data.metrics)
        gap = run.data.metrics["train_accuracy"] - run.data.metrics["train_validation_gap"]
        assert 0.0 <= gap <= 1.0  # the kept epoch's validation accuracy
        model = reproduced_project.path / f"data/06_models/variants/{variant}.keras"
        assert run.data.tags["trained_model_md5"] == model_md5(model.read_bytes())
        assert run.data.tags["evaluate.threshold"] == "0.5"  # evaluation's settings: tags
        artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
        assert {"plots", f"{variant}.json"} <= artifacts, artifacts
        [version] = client.search_model_versions(f"run_id = '{run.info.run_id}'")
        assert version.tags["model_md5"] == run.data.tags["trained_model_md5"]
    # The stages that train nothing, in the experiment beside it.
    stages = client.get_experiment_by_name(EXPERIMENT + STAGES_EXPERIMENT_SUFFIX)
    names = {run.info.run_name for run in client.search_runs([stages.experiment_id])}
    assert names == {"fetch", "ingest", "preprocess", "champion", "report", "export"}


@pytest.mark.slow
def test_evaluation_alone_logs_into_the_run_that_trained_the_model(
    reproduced_project: SmallProject, tmp_path: Path
):
    # An evaluation rerun (kedro run --pipelines evaluate, every variant) resumes each variant's
    # training run; one whose settings changed updates its tags, never a parameter.
    project = clone_project(reproduced_project, tmp_path / "project")
    client = MlflowClient(tracking_uri=project.tracking_uri)
    study = client.get_experiment_by_name(EXPERIMENT)
    before = {run.info.run_name: run for run in client.search_runs([study.experiment_id])}

    run_kedro(project.path, ["evaluate"], params={"evaluate.threshold": 0.6})

    after = client.search_runs([study.experiment_id])
    evaluate = [run for run in after if run.info.run_name == "evaluate"]
    assert len(evaluate) == 1  # the pipeline's own run, holding the variants' nested runs
    variant_runs = {run.info.run_name: run for run in after if run.info.run_name != "evaluate"}
    assert {name: run.info.run_id for name, run in variant_runs.items()} == {
        name: run.info.run_id for name, run in before.items()
    }
    for run in variant_runs.values():
        assert run.data.tags["evaluate.threshold"] == "0.6"
        assert run.info.status == "FINISHED"


@pytest.fixture
def project(project_root: Path, small_source_zip: Path, tmp_path: Path) -> Path:
    """A project copy reading the small zip, with kedro_params.yaml written as `dvc repro` does."""
    project = copy_project(project_root, tmp_path / "project")
    source = project / "conf/base/parameters_ingest.yml"
    source.write_text(
        source.read_text().replace(
            "../shared/data/kagglecatsanddogs_180px.zip", str(small_source_zip)
        )
    )
    run_kedro(project, ["config"])
    return project


def under_dvc(monkeypatch: pytest.MonkeyPatch, stage: str = "ingest") -> None:
    monkeypatch.setenv("DVC_STAGE", stage)


def test_a_runtime_parameter_dvc_does_not_see_is_refused(project: Path, monkeypatch):
    under_dvc(monkeypatch)
    with pytest.raises(ValueError, match=r"parameter ingest is .*'min_side': 10.* in kedro_params"):
        run_kedro(project, ["ingest"], {"ingest": {"min_side": 10}})


def test_a_stale_kedro_params_file_is_refused(project: Path, monkeypatch):
    (project / "conf/local/parameters.yml").write_text("ingest:\n  min_side: 10\n")
    under_dvc(monkeypatch)
    with pytest.raises(ValueError, match=r"kedro_params\.yaml older than conf/"):
        run_kedro(project, ["ingest"])


def test_a_local_catalog_override_is_refused_naming_the_entry(project: Path, monkeypatch):
    (project / "conf/local/catalog.yml").write_text(
        "ingestion_report:\n  type: json.JSONDataset\n  filepath: elsewhere.json\n"
    )
    under_dvc(monkeypatch, "config")
    with pytest.raises(ValueError, match="the catalog entry 'ingestion_report' differs"):
        run_kedro(project, ["config"])


@pytest.mark.parametrize(
    "override",
    [
        "variants:\n  extra:\n    model_input: gray100\n",
        # the pipelines are wired from conf/base alone: cnn would still train from scratch
        "variants:\n  cnn:\n    starts_from: data/06_models/variants/transfer.keras\n",
    ],
)
def test_a_variant_list_changed_outside_conf_base_is_refused(
    project: Path, monkeypatch, override: str
):
    (project / "conf/local/parameters.yml").write_text(override)
    under_dvc(monkeypatch, "config")
    with pytest.raises(ValueError, match="the variant list"):
        run_kedro(project, ["config"])


def test_outside_dvc_overrides_are_free_and_reach_kedro_params(project: Path, monkeypatch):
    monkeypatch.delenv("DVC_STAGE", raising=False)
    (project / "conf/local/parameters.yml").write_text(
        "variants:\n  cnn:\n    training:\n      epochs: 3\n"
    )
    run_kedro(project, ["config"])
    written = (project / "kedro_params.yaml").read_text()
    assert "epochs: 3" in written
    assert "filters:" in written  # a nested override keeps the rest of its block
