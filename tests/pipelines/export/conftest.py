"""Export test fixtures: a real registry trained on real photos, a project copy to run in."""

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from .trained_registry import TrainedRegistry, shared_registry


@pytest.fixture(scope="session")
def trained_registry(
    tmp_path_factory: pytest.TempPathFactory, shared_zip: Path, mobilenet_weights: Path
) -> TrainedRegistry:
    return shared_registry(
        tmp_path_factory.getbasetemp() / "registry", shared_zip, mobilenet_weights
    )


@pytest.fixture
def registry_uri(
    trained_registry: TrainedRegistry, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Point MLflow at the registry (the nodes use the global URI that kedro-mlflow sets)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_registry.tracking_uri)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(trained_registry.tracking_uri)
    yield trained_registry.tracking_uri
    mlflow.set_tracking_uri(previous)
