"""Project hooks: one MLflow child run per model variant, lineage tags on every run, and a guard
that keeps `dvc repro` from running on configuration DVC cannot see."""

import os
from pathlib import Path
from typing import Any

import yaml
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node

from cat_dog_classifier.config import base_config, variants
from cat_dog_classifier.lineage import run_tags


class VariantRunHooks:
    """Tags kedro-mlflow's run of each `kedro run` with its lineage (git commit, data hash), and
    runs the nodes of each model variant (a Kedro namespace) in a child run named after it, so
    that a variant's parameters, metrics, plots and model sit together. Made for the
    SequentialRunner."""

    def __init__(self) -> None:
        self._project_path = Path.cwd()
        self._variants: set[str] = set()
        self._tags: dict[str, str] = {}
        self._run_ids: dict[str, str] = {}
        self._active_variant: str | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._project_path = Path(context.project_path)

    # trylast: after kedro-mlflow's own before_pipeline_run has started the run.
    @hook_impl(trylast=True)
    def before_pipeline_run(self) -> None:
        self._variants = set(variants(self._project_path))
        self._tags = run_tags(self._project_path)
        self._run_ids = {}
        self._active_variant = None
        import mlflow  # noqa: PLC0415 (settings import this module: `kedro --help` need not load MLflow)

        if mlflow.active_run() is not None:
            mlflow.set_tags(self._tags)

    # tryfirst: before kedro-mlflow's own before_node_run, which logs the node's parameters to the
    # active run (so they land in the variant's run). Node outputs are saved after after_node_run,
    # so the child run stays active until the next node starts.
    @hook_impl(tryfirst=True)
    def before_node_run(self, node: Node) -> None:
        variant = node.namespace.split(".")[0] if node.namespace else None
        if variant not in self._variants:
            variant = None
        if variant == self._active_variant:
            return
        import mlflow  # noqa: PLC0415

        self._leave_variant_run("FINISHED")
        # no active run: kedro-mlflow tracking is disabled for this pipeline
        if variant is None or mlflow.active_run() is None:
            return
        run = mlflow.start_run(
            run_id=self._run_ids.get(variant),
            run_name=None if variant in self._run_ids else variant,
            nested=True,
            tags={"variant": variant, **self._tags},
        )
        self._run_ids[variant] = run.info.run_id
        self._active_variant = variant

    # tryfirst: the child run must end before kedro-mlflow ends the pipeline's run.
    @hook_impl(tryfirst=True)
    def after_pipeline_run(self) -> None:
        self._leave_variant_run("FINISHED")

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self) -> None:
        self._leave_variant_run("FAILED")

    def _leave_variant_run(self, status: str) -> None:
        if self._active_variant is not None:
            import mlflow  # noqa: PLC0415

            mlflow.end_run(status)
            self._active_variant = None


class DvcConfigGuardHooks:
    """Under `dvc repro`, refuse to run unless Kedro's view of the run equals DVC's.

    DVC reads each stage's parameter keys from kedro_params.yaml, which the `config` stage writes
    from Kedro's own resolution (conf/base, then the run environment), and the catalog from
    conf/base. A stage stops, naming what differs, when a parameter it reads differs from
    kedro_params.yaml (a runtime --params, or a kedro_params.yaml older than conf/), when the run
    environment overrides a catalog entry, or when it changes the variant list or a variant's
    model_input or starts_from (read from conf/base only). A plain `kedro run` is free to override
    anything; `dvc status` then shows its outputs as changed.
    """

    def __init__(self) -> None:
        self._context: KedroContext | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._context = context

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, pipeline: Pipeline) -> None:
        stage = os.environ.get("DVC_STAGE")
        if not stage or self._context is None:
            return
        project = Path(self._context.project_path)
        params = self._context.params
        problems = []
        base_catalog = base_config("catalog", project)
        catalog = self._context.config_loader["catalog"]
        problems += [
            f"the catalog entry {name!r} differs from conf/base (DVC tracks the catalog files of "
            "conf/base: change it there)"
            for name in sorted(set(catalog) | set(base_catalog))
            if catalog.get(name) != base_catalog.get(name)
        ]
        if _variant_inputs(params) != _variant_inputs(base_config("parameters", project)):
            problems.append(
                "the variant list (names, model_input and starts_from) differs from conf/base, "
                "which alone shapes the pipelines and dvc.yaml: change it there"
            )
        if "dvc_parameters" not in pipeline.outputs():  # every stage but the one writing it
            problems += _parameters_differing_from_dvc(
                pipeline, params, project / "kedro_params.yaml"
            )
        if problems:
            environment = self._context.env or "local"
            raise ValueError(
                f"`dvc repro` stage {stage} would run on other inputs than dvc.yaml records (run "
                f"environment conf/{environment}): "
                + "; ".join(problems)
                + ". A plain `kedro run` may override anything for an experiment."
            )


def _parameters_differing_from_dvc(
    pipeline: Pipeline, params: dict[str, Any], dvc_params_file: Path
) -> list[str]:
    """The parameters the pipeline reads whose value differs from DVC's view (kedro_params.yaml)."""
    if not dvc_params_file.is_file():
        return ["kedro_params.yaml is missing: run `dvc repro` (its config stage writes it)"]
    recorded = yaml.safe_load(dvc_params_file.read_text())
    used = sorted({name[len("params:") :] for name in pipeline.inputs() if _is_param(name)})
    return [
        f"parameter {key} is {value!r} for Kedro but {_lookup(recorded, key)!r} in "
        "kedro_params.yaml (a runtime --params, or kedro_params.yaml older than conf/: run "
        "`dvc repro`)"
        for key in used
        if (value := _lookup(params, key)) != _lookup(recorded, key)
    ]


def _variant_inputs(params: dict[str, Any]) -> dict[str, Any]:
    """Each variant's files in: what shapes its pipelines and its dvc.yaml stages."""
    return {
        name: (block.get("model_input"), block.get("starts_from"))
        for name, block in params.get("variants", {}).items()
    }


def _is_param(name: str) -> bool:
    return name.startswith("params:")


class _Missing:
    def __repr__(self) -> str:
        return "<not set>"


_MISSING = _Missing()


def _lookup(parameters: dict[str, Any], dotted_key: str) -> Any:
    value: Any = parameters
    for part in dotted_key.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value
