"""Project hooks: kedro-mlflow's hook made to log one MLflow run per trained model variant, with
lineage tags on every run, and a guard that keeps `dvc repro` from running on configuration DVC
cannot see."""

import os
from pathlib import Path
from typing import Any

import mlflow
import yaml
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from kedro_mlflow.framework.hooks.utils import _assert_mlflow_enabled, _flatten_dict

from cat_dog_classifier.config import base_config, variants
from cat_dog_classifier.lineage import run_tags

# MLflow's UI opens an experiment of this kind on its runs (not on the GenAI traces overview).
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
# Where the runs of `kedro run`s that train and evaluate no variant go (fetch, ingest, preprocess,
# champion, export): beside the study's experiment, so that it lists variant runs alone.
STAGES_EXPERIMENT_SUFFIX = "-stages"


class VariantMlflowHook(MlflowHook):
    """kedro-mlflow's hook, logging one MLflow run per trained model variant: the study's unit.

    A variant's run holds its parameters under the keys of its block (`training.epochs`,
    `model.dense_dropout`: the same key for every variant, so MLflow's compare view lines variants
    up in one column), the variant, model input and starting point as parameters, its training
    curves and, logged later by the evaluate stage, its validation and test metrics, plots and
    registered version: evaluation resumes the run that trained the model file it reads (found by
    the file's MD5, the `trained_model_md5` tag). Other settings a variant's nodes read
    (evaluation's threshold, the input size) are tags of its run, the last evaluation's: they may
    change when a stage reruns on the same trained model, which MLflow's parameters never do.

    - A `kedro run` of one variant (each `dvc repro` stage is one): kedro-mlflow's run is that
      variant's run, in the study's experiment.
    - A `kedro run` of several variants, or of variants and other nodes: kedro-mlflow's run is the
      pipeline's, and each variant's nodes run in the variant's run, nested under it.
    - A `kedro run` of no variant: its run goes to the experiment `<study>-stages`.
    - Under a run started before the session (an orchestrator's): each variant's run is nested
      under it.
    Every run gets the lineage tags (git commit, data hash). Made for the SequentialRunner.
    """

    def __init__(self) -> None:
        super().__init__()
        self._project_path = Path.cwd()
        self._blocks: dict[str, dict[str, Any]] = {}
        self._tags: dict[str, str] = {}
        self._pipeline_inputs: set[str] = set()
        self._nested = False  # variant runs nested under the pipeline's run
        self._variant_run_ids: dict[str, str] = {}
        self._active_variant: str | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        super().after_context_created(context)
        self._project_path = Path(context.project_path)

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        self._blocks = variants(self._project_path)
        self._tags = run_tags(self._project_path)
        self._pipeline_inputs = {name.split("@")[0] for name in pipeline.inputs()}
        self._variant_run_ids, self._active_variant = {}, None
        in_variants = {self._variant_of(node) for node in pipeline.nodes}
        only = next(iter(in_variants)) if len(in_variants) == 1 else None
        self._nested = self._already_active_mlflow or (only is None and in_variants != {None})
        run = self.mlflow_config.tracking.run
        configured = run.name, run.id
        names = self._pipeline_names(run_params)
        resumed = None  # the run that trained the one variant's model this run evaluates
        if (
            _assert_mlflow_enabled(names, self.mlflow_config)
            and not self._already_active_mlflow
            and not self._nested
        ):
            if only is None:
                run.id = self._new_stage_run(run.name or "+".join(names))
            else:
                resumed = self._training_run_id(only, catalog)
                run.name, run.id = only, resumed
        try:
            super().before_pipeline_run(run_params, pipeline, catalog)
        finally:
            run.name, run.id = configured
        if not self._is_mlflow_enabled or mlflow.active_run() is None:
            return
        if resumed is None:  # a resumed run keeps the lineage of its training
            mlflow.set_tags(self._tags)
        if not self._nested and only is not None:
            self._describe_variant_run(only, new=resumed is None)
        study = self.mlflow_config.tracking.experiment.name
        experiment = mlflow.get_experiment_by_name(study)
        if experiment is not None and not EXPERIMENT_KIND.items() <= experiment.tags.items():
            for key, value in EXPERIMENT_KIND.items():
                mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, key, value)

    @hook_impl
    def before_node_run(
        self, node: Node, catalog: DataCatalog, inputs: dict[str, Any], is_async: bool
    ) -> None:
        variant = self._variant_of(node)
        if self._nested and variant != self._active_variant and self._is_mlflow_enabled:
            self._leave_variant_run("FINISHED")
            if variant is not None:
                self._enter_variant_run(variant, catalog)
        # kedro-mlflow reactivates the pipeline's run unless a run (a variant's, nested) is
        # active, then logs the node's parameters: the variant's block under its own keys.
        block_prefix = f"params:variants.{variant}."
        params, settings = {}, {}
        for name, value in inputs.items():
            if variant is not None and name.startswith(block_prefix):
                params[f"params:{name[len(block_prefix) :]}"] = value
            elif variant is not None and name.startswith("params:"):
                settings[name[len("params:") :]] = value
            else:
                params[name] = value
        super().before_node_run(node, catalog, params, is_async)
        if settings and self._is_mlflow_enabled:
            flat = _flatten_dict(settings, recursive=True, sep=".")
            mlflow.set_tags({key: str(value) for key, value in flat.items()})

    # The variant's run ends before kedro-mlflow ends the pipeline's run (or marks it failed).
    @hook_impl
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        self._leave_variant_run("FINISHED")
        super().after_pipeline_run(run_params, pipeline, catalog)

    @hook_impl
    def on_pipeline_error(
        self, error: Exception, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        self._leave_variant_run("FAILED")
        super().on_pipeline_error(error, run_params, pipeline, catalog)

    def _variant_of(self, node: Node) -> str | None:
        variant = node.namespace.split(".")[0] if node.namespace else None
        return variant if variant in self._blocks else None

    @staticmethod
    def _pipeline_names(run_params: dict[str, Any]) -> list[str]:
        names = run_params.get("pipeline_names") or run_params.get("pipeline_name")
        return [names] if isinstance(names, str) else list(names or ["__default__"])

    def _new_stage_run(self, name: str) -> str:
        """A new run in the stages' experiment (created if need be), made the active experiment."""
        experiment = self.mlflow_config.tracking.experiment
        stages = experiment.name + STAGES_EXPERIMENT_SUFFIX
        found = mlflow.get_experiment_by_name(stages)
        experiment_id = (
            found.experiment_id
            if found is not None
            else mlflow.create_experiment(
                stages, artifact_location=experiment.create_experiment_kwargs.artifact_location
            )
        )
        mlflow.set_experiment(experiment_id=experiment_id)
        return mlflow.MlflowClient().create_run(experiment_id, run_name=name).info.run_id

    def _training_run_id(self, variant: str, catalog: DataCatalog) -> str | None:
        """The run that trained the variant's model file, where this `kedro run` reads that file
        (evaluates it) rather than writes it; None for a model trained here, or unknown to the
        tracking store (trained in another)."""
        model = f"{variant}.model"
        if model not in self._pipeline_inputs or not catalog.exists(f"{model}@bytes"):
            return None
        from cat_dog_classifier.model_files import model_md5  # noqa: PLC0415
        from cat_dog_classifier.registry import find_training_run  # noqa: PLC0415

        run = find_training_run(variant, model_md5(catalog.load(f"{model}@bytes")))
        return None if run is None else run.info.run_id

    def _describe_variant_run(self, variant: str, new: bool) -> None:
        """The variant's tag and, on a new run, the parameters that name what it trained on (a
        resumed run logged them when it trained)."""
        mlflow.set_tag("variant", variant)
        if not new:
            return
        block = self._blocks[variant]
        mlflow.log_params(
            {
                "variant": variant,
                "model_input": block["model_input"],
                "starts_from": block["starts_from"],
            }
        )

    def _enter_variant_run(self, variant: str, catalog: DataCatalog) -> None:
        run_id = self._variant_run_ids.get(variant) or self._training_run_id(variant, catalog)
        if run_id is None:
            run = mlflow.start_run(run_name=variant, nested=True, tags=self._tags)
        else:
            run = mlflow.start_run(run_id=run_id, nested=True)
        self._variant_run_ids[variant] = run.info.run_id
        self._active_variant = variant
        self._describe_variant_run(variant, new=run_id is None)

    def _leave_variant_run(self, status: str) -> None:
        if self._active_variant is not None:
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
