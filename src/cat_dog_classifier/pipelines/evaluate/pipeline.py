"""Evaluation pipeline: the same template under one namespace per variant (config.variants)."""

from functools import partial

from kedro.pipeline import Node, Pipeline, pipeline

from cat_dog_classifier.config import variants

from .nodes import (
    compute_metrics,
    fingerprint_splits,
    plot_confusion_matrix,
    plot_misclassified,
    plot_neither_mistakes,
    plot_neither_scores,
    plot_roc_curve,
    plot_training_curves,
    predict,
    register_model,
)

# Inputs shared by every variant: kept out of the variant namespaces.
SHARED_PARAMETERS = {
    "params:evaluate.batch_size",
    "params:evaluate.threshold",
    "params:evaluate.gallery_size",
    "params:registered_model_name",
}


def create_template(variant: str) -> Pipeline:
    """Evaluate one variant's model on its validation and test splits, plot, register it (its
    registry version goes to the variant's run, not to the evaluation record DVC tracks)."""
    return Pipeline(
        [
            Node(
                func=predict,
                inputs=["model@keras", "model_input", "params:evaluate.batch_size"],
                outputs="predictions",
                name="predict",
            ),
            Node(
                func=compute_metrics,
                inputs=["predictions", "params:evaluate.threshold"],
                outputs=["metrics", "metrics_mlflow"],
                name="compute_metrics",
            ),
            Node(
                func=plot_training_curves,
                inputs="training_history",
                outputs="training_curves_plot",
                name="plot_training_curves",
            ),
            Node(
                func=plot_confusion_matrix,
                inputs="metrics",
                outputs="confusion_matrix_plot",
                name="plot_confusion_matrix",
            ),
            Node(
                func=plot_roc_curve,
                inputs="predictions",
                outputs="roc_curve_plot",
                name="plot_roc_curve",
            ),
            Node(
                func=plot_misclassified,
                inputs=[
                    "predictions",
                    "model_input",
                    "params:evaluate.threshold",
                    "params:evaluate.gallery_size",
                ],
                outputs="misclassified_plot",
                name="plot_misclassified",
            ),
            Node(
                func=plot_neither_scores,
                inputs="predictions",
                outputs="neither_scores_plot",
                name="plot_neither_scores",
            ),
            Node(
                func=plot_neither_mistakes,
                inputs=["predictions", "model_input", "params:evaluate.gallery_size"],
                outputs="neither_mistakes_plot",
                name="plot_neither_mistakes",
            ),
            Node(
                func=fingerprint_splits,
                inputs="image_splits",
                outputs="split_sha256",
                name="fingerprint_splits",
            ),
            Node(
                func=partial(register_model, variant=variant),
                inputs={
                    "model": "model@keras",
                    "model_file": "model@bytes",
                    "model_input": "model_input",
                    "metrics": "metrics",
                    "split_sha256": "split_sha256",
                    "architecture": "params:architecture",
                    "image": "params:image",
                    "registered_model_name": "params:registered_model_name",
                },
                outputs=["evaluation", "registration_tags"],
                name="register_model",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Every variant; `kedro run --pipelines evaluate --namespaces cnn` evaluates one alone."""
    return sum(
        (
            pipeline(
                create_template(name),
                namespace=name,
                inputs={
                    "model_input": f"{variant['model_input']}.model_input",
                    "image_splits": "image_splits",
                },
                parameters={
                    "params:architecture": f"params:variants.{name}.model.architecture",
                    "params:image": f"params:{variant['model_input']}.image",
                    **{shared: shared for shared in SHARED_PARAMETERS},
                },
            )
            for name, variant in variants().items()
        ),
        Pipeline([]),
    )
