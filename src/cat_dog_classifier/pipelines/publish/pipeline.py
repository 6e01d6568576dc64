"""Publish pipeline: `kedro run --pipelines publish`, after a `git checkout` + `dvc checkout` or
when the registry was lost, moves the registry back to what DVC recorded (the champion stage's own
last step, alone)."""

from kedro.pipeline import Pipeline

from cat_dog_classifier.pipelines.champion import create_pipeline as create_champion_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_champion_pipeline().only_nodes("publish_champion")
