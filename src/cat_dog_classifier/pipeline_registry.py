"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Every pipeline under `pipelines/`. The default runs them all in dependency order (config,
    ingest, preprocess, train, evaluate, champion, export). Kedro loads only the pipelines a run
    names, so `kedro run --pipelines ingest` imports nothing of the others."""
    pipelines = find_pipelines(raise_errors=True)
    if "__default__" in pipelines:  # every pipeline was loaded
        pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
