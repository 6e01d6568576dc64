"""Ingestion pipeline: `kedro run --pipelines ingest`."""

from kedro.pipeline import Pipeline, node

from cat_dog_classifier.sources import fetch_source

from .nodes import inspect_images, reject_duplicates, summarise_ingestion


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(fetch_source, "params:ingest", "image_source", name="fetch_source"),
            node(
                inspect_images,
                ["image_source", "params:ingest"],
                "inspected_images",
                name="inspect_images",
            ),
            node(reject_duplicates, "inspected_images", "image_manifest", name="reject_duplicates"),
            node(summarise_ingestion, "image_manifest", "ingestion_report", name="summarise"),
        ]
    )
