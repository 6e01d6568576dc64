"""Project hooks: one nested MLflow run per model variant.

kedro-mlflow opens one run per `kedro run`. The nodes of each variant (the Kedro namespaces of the
train and evaluate pipelines) log into a child run of it, named after the variant, so that a
variant's parameters, metrics, plots and model sit together. Made for the SequentialRunner.
"""

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.pipeline.node import Node
from mlflow.entities import RunStatus


class VariantRunHooks:
    """Activates the variant's child run before each of its nodes, and leaves it afterwards."""

    def __init__(self) -> None:
        self._run_ids: dict[str, str] = {}
        self._active_variant: str | None = None

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._run_ids = {}
        self._active_variant = None

    # tryfirst: before kedro-mlflow's own before_node_run, which logs the node's parameters to the
    # active run (so they land in the variant's run). Node outputs are saved after after_node_run,
    # so the child run stays active until the next node starts.
    @hook_impl(tryfirst=True)
    def before_node_run(self, node: Node) -> None:
        # Imported here: the train pipeline loads TensorFlow, which settings.py (read by every kedro
        # command) should not.
        from cat_dog_classifier.pipelines.train.pipeline import VARIANT_INPUTS  # noqa: PLC0415

        variant = node.namespace.split(".")[0] if node.namespace else None
        if variant not in VARIANT_INPUTS:
            variant = None
        if variant == self._active_variant:
            return
        self._leave_variant_run(RunStatus.FINISHED)
        # no active run: kedro-mlflow tracking is disabled for this pipeline
        if variant is None or mlflow.active_run() is None:
            return
        run = mlflow.start_run(
            run_id=self._run_ids.get(variant),
            run_name=None if variant in self._run_ids else variant,
            nested=True,
            tags={"variant": variant},
        )
        self._run_ids[variant] = run.info.run_id
        self._active_variant = variant

    # tryfirst: the child run must end before kedro-mlflow ends the pipeline's run.
    @hook_impl(tryfirst=True)
    def after_pipeline_run(self) -> None:
        self._leave_variant_run(RunStatus.FINISHED)

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self) -> None:
        self._leave_variant_run(RunStatus.FAILED)

    def _leave_variant_run(self, status: RunStatus) -> None:
        if self._active_variant is not None:
            mlflow.end_run(RunStatus.to_string(status))
            self._active_variant = None
