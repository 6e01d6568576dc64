"""Export pipeline: the champion and the variants (config.variants) → web/models/ for the page."""

from kedro.pipeline import Node, Pipeline

from cat_dog_classifier.config import variants

from .nodes import export_tfjs_models, find_lineage, select_exports


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=select_exports,
                inputs=["champion_decision", "params:export.variants"],
                outputs="exports",
                name="select_exports",
            ),
            Node(
                func=find_lineage,
                inputs="exports",
                outputs="lineage",
                name="find_lineage",
            ),
            Node(
                func=export_tfjs_models,
                inputs={
                    "exports": "exports",
                    "lineage": "lineage",
                    "champion_file": "champion_model@bytes",
                    "float16_architectures": "params:export.float16_architectures",
                    "fold_batch_norm": "params:export.fold_batch_norm",
                    **{name: f"{name}.model@bytes" for name in variants()},
                },
                outputs="web_models",
                name="export_tfjs_models",
            ),
        ]
    )
