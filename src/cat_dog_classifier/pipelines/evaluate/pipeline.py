"""Evaluation pipeline: a per-variant template under each training namespace, then the comparison
of all variants and the champion choice."""

from kedro.pipeline import Pipeline, node, pipeline

from cat_dog_classifier.pipelines.train.pipeline import VARIANT_INPUTS

from .nodes import (
    collect_metrics,
    compute_test_metrics,
    epoch_metrics,
    plot_confusion_matrix,
    plot_misclassified,
    plot_model_comparison,
    plot_roc_curve,
    plot_training_curves,
    predict_test_set,
    register_model,
    select_champion,
)

# Evaluation settings shared by every variant: kept out of the variant namespaces.
EVALUATE_PARAMETERS = {
    f"params:evaluate.{name}" for name in ("batch_size", "threshold", "gallery_size", "registry")
}


def create_template() -> Pipeline:
    """Evaluate one variant's `model` on its test split, log it and register it."""
    return Pipeline(
        [
            node(
                predict_test_set,
                inputs=["model", "model_input", "params:evaluate.batch_size"],
                outputs="test_predictions",
                name="predict_test_set",
            ),
            node(
                compute_test_metrics,
                inputs=["test_predictions", "params:evaluate.threshold"],
                outputs=["test_metrics", "test_metrics_mlflow"],
                name="compute_test_metrics",
            ),
            node(
                epoch_metrics,
                inputs="training_history",
                outputs="epoch_metrics_mlflow",
                name="log_epoch_metrics",
            ),
            node(
                plot_training_curves,
                inputs="training_history",
                outputs="training_curves_plot",
                name="plot_training_curves",
            ),
            node(
                plot_confusion_matrix,
                inputs="test_metrics",
                outputs="confusion_matrix_plot",
                name="plot_confusion_matrix",
            ),
            node(
                plot_roc_curve,
                inputs="test_predictions",
                outputs="roc_curve_plot",
                name="plot_roc_curve",
            ),
            node(
                plot_misclassified,
                inputs=[
                    "test_predictions",
                    "model_input",
                    "params:evaluate.threshold",
                    "params:evaluate.gallery_size",
                ],
                outputs="misclassified_plot",
                name="plot_misclassified",
            ),
            node(
                register_model,
                inputs=[
                    "model",
                    "model_input",
                    "test_metrics",
                    "params:model",
                    "params:evaluate.registry",
                ],
                outputs="registered_model",
                name="register_model",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Every variant's evaluation, then `metrics.json`, the comparison chart and the champion."""
    template = create_template()
    per_variant = sum(
        (
            pipeline(
                template,
                namespace=variant,
                inputs={"model_input": model_input},
                parameters=EVALUATE_PARAMETERS,
            )
            for variant, model_input in VARIANT_INPUTS.items()
        ),
        Pipeline([]),
    )
    return per_variant + Pipeline(
        [
            node(
                collect_metrics,
                inputs={variant: f"{variant}.test_metrics" for variant in VARIANT_INPUTS},
                outputs="metrics",
                name="collect_metrics",
            ),
            node(
                plot_model_comparison,
                inputs="metrics",
                outputs="model_comparison_plot",
                name="plot_model_comparison",
            ),
            node(
                select_champion,
                inputs={
                    "registry_params": "params:evaluate.registry",
                    **{variant: f"{variant}.registered_model" for variant in VARIANT_INPUTS},
                },
                outputs="champion_decision",
                name="select_champion",
            ),
        ]
    )
