"""Fetch pipeline: `kedro run --pipelines fetch` links the photos at data/01_raw/image_source."""

from kedro.pipeline import Node, Pipeline

from .nodes import fetch_source


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=fetch_source,
                inputs=[
                    "params:ingest.source",
                    "params:ingest.local_copies",
                    "params:ingest.download",
                ],
                outputs="image_source",
                name="fetch_source",
            )
        ]
    )
