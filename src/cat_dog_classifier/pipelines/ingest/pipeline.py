"""Ingestion pipeline: `kedro run --pipeline ingest`."""

from kedro.pipeline import Pipeline, node

from .nodes import inspect_images, reject_duplicates, summarise_ingestion


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(inspect_images, "params:ingest", "inspected_images", name="inspect_images"),
            node(reject_duplicates, "inspected_images", "image_manifest", name="reject_duplicates"),
            node(summarise_ingestion, "image_manifest", "ingestion_report", name="summarise"),
        ]
    )
