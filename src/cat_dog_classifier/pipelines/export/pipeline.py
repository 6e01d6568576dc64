"""Registry → TF.js graph models in web/models/ + the manifest the page reads."""

from kedro.pipeline import Node, Pipeline

from .nodes import export_tfjs_models, select_model_versions


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                select_model_versions,
                inputs=["params:export.registered_model_name", "params:export.models"],
                outputs="export_model_versions",
                name="select_model_versions",
            ),
            Node(
                export_tfjs_models,
                inputs=[
                    "export_model_versions",
                    "params:export.registered_model_name",
                    "params:export.tfjs",
                ],
                outputs="tfjs_manifest",
                name="export_tfjs_models",
            ),
        ]
    )
