"""Training pipeline: the same template under one namespace per model variant (config.variants)."""

from kedro.pipeline import Node, Pipeline, pipeline

from cat_dog_classifier.config import variants

from .nodes import describe_model_file, epoch_metrics, train_model


def create_template() -> Pipeline:
    """Train one variant: `model_input` in; the model, its history and the run's curves out."""
    return Pipeline(
        [
            Node(
                func=train_model,
                inputs=["model_input", "params:model", "params:training"],
                outputs=["model@keras", "training_history"],
                name="train_model",
            ),
            Node(
                func=epoch_metrics,
                inputs="training_history",
                outputs="epoch_metrics_mlflow",
                name="epoch_metrics",
            ),
            Node(
                func=describe_model_file,
                inputs="model@bytes",
                outputs="model_tags",
                name="describe_model_file",
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
                },
            )
            for name, variant in variants().items()
        ),
        Pipeline([]),
    )
