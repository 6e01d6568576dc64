"""Config pipeline: `kedro run --pipelines config` writes kedro_params.yaml, DVC's parameters."""

from kedro.pipeline import Node, Pipeline

from .nodes import resolve_parameters


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=resolve_parameters,
                inputs="parameters",
                outputs="dvc_parameters",
                name="resolve_parameters",
            )
        ]
    )
