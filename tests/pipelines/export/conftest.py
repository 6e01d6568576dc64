"""Export test fixtures: MLflow pointed at the session's trained registry."""

from collections.abc import Iterator

import mlflow
import pytest

from .trained_registry import TrainedRegistry


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
