"""Preprocessing pipeline: `kedro run --pipelines preprocess`."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import preprocess_images, split_images

# One preprocessed set per namespace, each with its own `image` parameters:
# gray100 is the original study's input, rgb160 the transfer-learning one.
PREPROCESSED_SETS = ("gray100", "rgb160")


def create_pipeline(**kwargs) -> Pipeline:
    split = Pipeline(
        [
            node(
                split_images,
                ["image_manifest", "params:preprocess.split"],
                "image_splits",
                name="split_images",
            )
        ]
    )
    one_set = Pipeline(
        [
            node(
                preprocess_images,
                ["image_splits", "params:image", "params:preprocess.workers"],
                "model_input",
                name="preprocess_images",
            )
        ]
    )
    return split + sum(
        pipeline(
            one_set,
            namespace=name,
            inputs={"image_splits"},
            parameters={"params:preprocess.workers"},
        )
        for name in PREPROCESSED_SETS
    )
