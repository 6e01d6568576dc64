"""Training pipeline: the same one-node template under one namespace per model variant."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import train_model

# Each variant (a Kedro namespace, its parameters under its key) and the preprocessed set it uses.
VARIANT_INPUTS = {
    "cnn": "gray100.model_input",
    "cnn_dropout": "gray100.model_input",
    "cnn_dropout_aug": "gray100.model_input",
    "transfer": "rgb160.model_input",
}


def create_template() -> Pipeline:
    """Train one variant: `model_input` in, `model` and its per-epoch `training_history` out."""
    return Pipeline(
        [
            node(
                train_model,
                inputs=["model_input", "params:model", "params:training"],
                outputs=["model", "training_history"],
                name="train_model",
            )
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Every variant; `kedro run --pipelines train --namespaces cnn` trains one alone."""
    template = create_template()
    return sum(
        (
            pipeline(template, namespace=variant, inputs={"model_input": model_input})
            for variant, model_input in VARIANT_INPUTS.items()
        ),
        Pipeline([]),
    )
