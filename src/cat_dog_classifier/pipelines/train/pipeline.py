"""Training pipeline: the same template under one namespace per model variant (config.variants)."""

from kedro.pipeline import Node, Pipeline, pipeline

from cat_dog_classifier.config import variants

from .nodes import add_neither_output, describe_training, epoch_metrics, train_model


def create_template() -> Pipeline:
    """Train one variant: `model_input` in; the model (with its third answer, where set), its
    history and the run's curves out."""
    return Pipeline(
        [
            Node(
                func=train_model,
                inputs=["model_input", "params:model", "params:training"],
                outputs=["cat_dog_model", "training_history", "training_info"],
                name="train_model",
            ),
            Node(
                func=add_neither_output,
                inputs=["cat_dog_model", "model_input", "params:neither"],
                outputs=["model@keras", "neither_detector"],
                name="add_neither_output",
            ),
            Node(
                func=epoch_metrics,
                inputs="training_history",
                outputs="epoch_metrics_mlflow",
                name="epoch_metrics",
            ),
            Node(
                func=describe_training,
                inputs=["model@bytes", "training_info", "neither_detector"],
                outputs="training_tags",
                name="describe_training",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Every variant; `kedro run --pipelines train --namespaces cnn` trains one alone."""
    template = create_template()
    return sum(
        (
            pipeline(
                template,
                namespace=name,
                inputs={"model_input": f"{variant['model_input']}.model_input"},
                parameters={
                    "params:model": f"params:variants.{name}.model",
                    "params:training": f"params:variants.{name}.training",
                    "params:neither": f"params:variants.{name}.neither",
                },
            )
            for name, variant in variants().items()
        ),
        Pipeline([]),
    )
