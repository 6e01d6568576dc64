"""Project hooks: a child MLflow run per variant, with lineage tags, on a two-namespace pipeline run
by Kedro's runner; and the guard that stops `dvc repro` stages on configuration DVC does not see."""

import types
from pathlib import Path

import mlflow
import pytest
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline, pipeline
from kedro.runner import SequentialRunner

from cat_dog_classifier.hooks import VariantRunHooks
from tests.conftest import copy_project, run_kedro

SEEN: list[dict] = []


def record_active_run(value: int) -> int:
    """A node that notes which MLflow run it ran in."""
    run = mlflow.active_run()
    SEEN.append({"run_id": run.info.run_id, "variant": run.data.tags.get("variant")})
    return value + 1


def test_each_variants_nodes_run_in_one_child_run_with_lineage_tags(
    project_root: Path, mlflow_store: str
):
    template = Pipeline(
        [
            Node(func=record_active_run, inputs="start", outputs="middle", name="first"),
            Node(func=record_active_run, inputs="middle", outputs="end", name="second"),
        ]
    )
    runs = sum(
        (pipeline(template, namespace=name, inputs={"start"}) for name in ("cnn", "transfer")),
        Pipeline([]),
    ) + Pipeline([Node(func=record_active_run, inputs="start", outputs="other", name="other")])
    hooks = VariantRunHooks()
    manager = _create_hook_manager()
    manager.register(hooks)
    SEEN.clear()

    with mlflow.start_run() as parent:
        hooks.after_context_created(types.SimpleNamespace(project_path=project_root))
        hooks.before_pipeline_run()
        SequentialRunner().run(runs, DataCatalog({"start": MemoryDataset(0)}), manager)
        hooks.after_pipeline_run()

    by_variant = {}
    for seen in SEEN:
        by_variant.setdefault(seen["variant"], set()).add(seen["run_id"])
    assert by_variant[None] == {parent.info.run_id}  # outside a variant: the pipeline's run
    for variant in ("cnn", "transfer"):
        [run_id] = by_variant[variant]  # both nodes of a variant share its child run
        child = mlflow.get_run(run_id)
        assert child.info.run_name == variant
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert len(child.data.tags["git_commit"]) in (40, len("unknown"))
    assert mlflow.get_run(parent.info.run_id).data.tags["git_dirty"] in {"true", "false", "unknown"}


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
