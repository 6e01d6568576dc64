"""Ingestion pipeline: `kedro run --pipelines ingest`."""

from kedro.pipeline import Node, Pipeline

from .nodes import inspect_images, inspect_neither_images, reject_duplicates, summarise_ingestion


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=inspect_images,
                inputs=["image_source", "params:ingest"],
                outputs="inspected_pet_images",
                name="inspect_images",
            ),
            Node(
                func=inspect_neither_images,
                inputs=["neither_source", "params:ingest"],
                outputs="inspected_neither_images",
                name="inspect_neither_images",
            ),
            Node(
                func=reject_duplicates,
                inputs=["inspected_pet_images", "inspected_neither_images"],
                outputs="image_manifest",
                name="reject_duplicates",
            ),
            Node(
                func=summarise_ingestion,
                inputs="image_manifest",
                outputs="ingestion_report",
                name="summarise_ingestion",
            ),
        ]
    )
