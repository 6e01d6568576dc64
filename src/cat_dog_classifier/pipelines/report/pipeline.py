"""Report pipeline: the study's table, each technique's effect and one figure of every variant's
curves (config.variants), from what training and evaluation wrote."""

from kedro.pipeline import Node, Pipeline

from cat_dog_classifier.config import variants

from .nodes import collect_by_variant, plot_study_curves, study_table, technique_effects


def create_pipeline(**kwargs) -> Pipeline:
    names = list(variants())
    return Pipeline(
        [
            Node(
                func=collect_by_variant,
                inputs={name: f"{name}.training_history" for name in names},
                outputs="variant_histories",
                name="collect_histories",
            ),
            Node(
                func=collect_by_variant,
                inputs={name: f"{name}.metrics" for name in names},
                outputs="variant_metrics",
                name="collect_metrics",
            ),
            Node(
                func=study_table,
                inputs=[
                    "variant_histories",
                    "variant_metrics",
                    "params:variants",
                    "params:report.published_validation_accuracy",
                ],
                outputs="study_table",
                name="study_table",
            ),
            Node(
                func=technique_effects,
                inputs=["study_table", "params:report.techniques"],
                outputs="technique_effects",
                name="technique_effects",
            ),
            Node(
                func=plot_study_curves,
                inputs=["variant_histories", "study_table"],
                outputs="study_curves_plot",
                name="plot_study_curves",
            ),
        ]
    )
