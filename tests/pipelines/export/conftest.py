"""Export test fixtures: a real registry trained on real photos, a project copy to run in."""

import shutil
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


def copy_project(project_root: Path, destination: Path) -> Path:
    """The files a `kedro run` reads (config, web page), not data, models or node_modules."""
    destination.mkdir(parents=True)
    for name in ("pyproject.toml", ".telemetry"):
        if (project_root / name).exists():
            shutil.copy2(project_root / name, destination / name)
    shutil.copytree(project_root / "conf", destination / "conf")
    shutil.copytree(
        project_root / "src",
        destination / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    shutil.copytree(
        project_root / "web",
        destination / "web",
        ignore=shutil.ignore_patterns("node_modules", "models", "vendor"),
    )
    return destination
