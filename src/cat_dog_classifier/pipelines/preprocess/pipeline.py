"""Preprocessing pipeline: `kedro run --pipelines preprocess`."""

from kedro.pipeline import Node, Pipeline

from .nodes import preprocess_images, split_images

# One preprocessed set per name, each with its own `<name>.image` parameters: rgb192 is the
# transfer-learning input, gray100 the original study's. Largest first: Kedro saves the outputs in
# this order, and while the first streams to disk the smaller ones are made from the same decoded
# photos and kept in memory.
PREPROCESSED_SETS = ("rgb192", "gray100")


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=split_images,
                inputs=[
                    "image_manifest",
                    "params:preprocess.split",
                    "params:preprocess.neither_split",
                ],
                outputs="image_splits",
                name="split_images",
            ),
            Node(
                func=preprocess_images,
                inputs={
                    "image_splits": "image_splits",
                    "jpeg_dct_scaling": "params:preprocess.jpeg_dct_scaling",
                    "workers": "params:preprocess.workers",
                    **{name: f"params:{name}.image" for name in PREPROCESSED_SETS},
                },
                outputs={name: f"{name}.model_input" for name in PREPROCESSED_SETS},
                name="preprocess_images",
            ),
        ]
    )
