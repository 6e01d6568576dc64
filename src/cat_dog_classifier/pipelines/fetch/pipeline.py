"""Fetch pipeline: `kedro run --pipelines fetch` links the photos at data/01_raw/image_source,
the photos of other things at data/01_raw/neither_source."""

from kedro.pipeline import Node, Pipeline

from .nodes import fetch_neither_source, fetch_source


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
            ),
            Node(
                func=fetch_neither_source,
                inputs=[
                    "params:ingest.neither_source",
                    "params:ingest.neither_local_copies",
                    "params:ingest.no_neither_photos",
                ],
                outputs="neither_source",
                name="fetch_neither_source",
            ),
        ]
    )
