"""Training pipeline: the same template under one namespace per model variant (config.variants)."""

from collections.abc import Collection

from kedro.pipeline import Node, Pipeline, pipeline
from parse import parse

from cat_dog_classifier.config import base_config, variants

from .nodes import (
    add_neither_output,
    describe_training,
    epoch_metrics,
    study_metrics,
    train_model,
    training_history,
)


def create_template(warm_start: bool = False) -> Pipeline:
    """Train one variant: `model_input` (and with `warm_start`, the `initial_model` whose weights it
    starts from) in; the model (with its third answer, where set), its history, the run's curves
    (speed included, which the history leaves out) and the study's figures out."""
    inputs = ["model_input", "params:model", "params:training"]
    return Pipeline(
        [
            Node(
                func=train_model,
                inputs=[*inputs, "initial_model"] if warm_start else inputs,
                outputs=["cat_dog_model", "epoch_logs", "training_info"],
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
                inputs="epoch_logs",
                outputs="epoch_metrics_mlflow",
                name="epoch_metrics",
            ),
            Node(
                func=study_metrics,
                inputs=["epoch_logs", "training_info"],
                outputs="study_metrics_mlflow",
                name="study_metrics",
            ),
            Node(
                func=training_history,
                inputs="epoch_logs",
                outputs="training_history",
                name="training_history",
            ),
            Node(
                func=describe_training,
                inputs=["model@bytes", "training_info", "neither_detector"],
                outputs="training_tags",
                name="describe_training",
            ),
        ]
    )


def initial_model(name: str, variant: dict, catalog: dict, names: Collection[str]) -> str | None:
    """The dataset of the trained model a variant's `starts_from` names (one of the other variants
    `names`), as the file's bytes, or None where it names the variant's model input (trained from
    scratch)."""
    starts_from = variant["starts_from"]
    if starts_from == catalog["{namespace}.model_input"]["filepath"].format(
        namespace=variant["model_input"]
    ):
        return None
    source = parse(catalog["{variant}.model@keras"]["filepath"], starts_from)
    if source is None or source["variant"] not in names or source["variant"] == name:
        raise ValueError(
            f"variants.{name}.starts_from is {starts_from!r}: neither its model input's file nor "
            "another variant's trained model (conf/base/parameters_train.yml)"
        )
    return f"{source['variant']}.model@bytes"  # loaded by training, after its strategy exists


def create_variant_pipeline(
    name: str, variant: dict, catalog: dict, names: Collection[str]
) -> Pipeline:
    """The template under the variant's namespace, reading its model input and, where it starts
    from another variant's trained model, that model (from its file when run alone)."""
    inputs = {"model_input": f"{variant['model_input']}.model_input"}
    if source := initial_model(name, variant, catalog, names):
        inputs["initial_model"] = source
    return pipeline(
        create_template(warm_start=bool(source)),
        namespace=name,
        inputs=inputs,
        parameters={
            "params:model": f"params:variants.{name}.model",
            "params:training": f"params:variants.{name}.training",
            "params:neither": f"params:variants.{name}.neither",
        },
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Every variant; `kedro run --pipelines train --namespaces cnn` trains one alone."""
    catalog, blocks = base_config("catalog"), variants()
    return sum(
        (create_variant_pipeline(name, block, catalog, blocks) for name, block in blocks.items()),
        Pipeline([]),
    )
