"""Fixtures shared by every test: where the project and the shared real data live."""

import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

if TYPE_CHECKING:  # imported lazily below: it loads TensorFlow
    from tests.pipelines.export.trained_registry import TrainedRegistry

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.fail(f"{SHARED_DIR} is missing: the tests read the real data that ../shared holds")
    return SHARED_DIR


@pytest.fixture(scope="session")
def shared_zip(shared_dir: Path) -> Path:
    return shared_dir / "data" / "kagglecatsanddogs_180px.zip"


@pytest.fixture(scope="session")
def samples_dir(shared_dir: Path) -> Path:
    return shared_dir / "samples"


@pytest.fixture(scope="session")
def mobilenet_weights(shared_dir: Path) -> Path:
    return shared_dir / "models" / "mobilenet_v2_1.0_imagenet_no_top.weights.h5"


def make_subset_zip(shared_zip: Path, destination: Path, per_label: int) -> Path:
    """Copy the first `per_label` cats and dogs of the shared zip into a small zip, same layout."""
    with zipfile.ZipFile(shared_zip) as source, zipfile.ZipFile(destination, "w") as subset:
        for folder in ("Cat", "Dog"):
            for number in range(per_label):
                name = f"PetImages/{folder}/{number}.jpg"
                subset.writestr(source.getinfo(name), source.read(name))
    return destination


@pytest.fixture(scope="session")
def small_source_zip(shared_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 real cats and 150 real dogs from the shared zip, in the PetImages layout."""
    return make_subset_zip(shared_zip, tmp_path_factory.mktemp("source") / "petimages.zip", 150)


def copy_project(project_root: Path, destination: Path) -> Path:
    """The project as git sees it (tracked files, new ones not ignored): no data, models, venv."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=project_root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = project_root / relative
        if source.is_file():
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / relative)
    return destination


def tracking_uri(project: Path) -> str:
    """The project copy's own MLflow store: a SQLite file beside its code."""
    return f"sqlite:///{project / 'mlflow.db'}"


@contextmanager
def inside(project: Path, store: str | None = None) -> Iterator[None]:
    """Run from the project's root (catalog paths are relative) against an MLflow store: the
    project's own unless `store` names another."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(project)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", store or tracking_uri(project))
        yield


def run_kedro(
    project: Path,
    pipelines: list[str],
    params: dict[str, Any],
    store: str | None = None,
    **options: Any,
) -> None:
    """`kedro run --pipelines ... --params ...` in `project`, through a real KedroSession."""
    with inside(project, store):
        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=params) as session:
            session.run(pipeline_names=pipelines, **options)


@dataclass(frozen=True)
class TrainedProject:
    path: Path
    params: dict[str, Any]

    @property
    def tracking_uri(self) -> str:
        return tracking_uri(self.path)


VARIANTS = ["cnn", "cnn_dropout", "cnn_dropout_aug", "transfer"]


@pytest.fixture(scope="session")
def trained_project(
    project_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
    small_source_zip: Path,
    mobilenet_weights: Path,
) -> TrainedProject:
    """A project copy after ingest, preprocess, train and evaluate on 300 real photos: one epoch per
    variant, a 96x96 transfer input, every version registered in its own SQLite MLflow store."""
    project = copy_project(project_root, tmp_path_factory.mktemp("trained") / "project")
    one_epoch = {"training": {"epochs": 1, "deterministic": True}}
    params = {
        "ingest": {"source": str(small_source_zip)},
        "rgb160": {"image": {"height": 96, "width": 96}},  # small transfer input, same set name
        **{variant: one_epoch for variant in VARIANTS},
        # Fine-tuning has its own test (tests/pipelines/train): here the frozen phase is enough.
        "transfer": {
            "training": {**one_epoch["training"], "fine_tune": {"epochs": 0}},
            "model": {"weights": str(mobilenet_weights)},
        },
        "evaluate": {"registry": {"min_test_accuracy": 0.0}},
    }
    run_kedro(project, ["ingest", "preprocess"], params)
    run_kedro(project, ["train", "evaluate"], params)
    return TrainedProject(project, params)


@pytest.fixture(scope="session")
def trained_registry(
    tmp_path_factory: pytest.TempPathFactory, shared_zip: Path, mobilenet_weights: Path
) -> "TrainedRegistry":
    """Small real models of the project's cnn and transfer architectures, registered like training
    does (contract tags, `champion` on transfer): for the export and web tests, built once."""
    from tests.pipelines.export.trained_registry import train_and_register  # noqa: PLC0415

    return train_and_register(tmp_path_factory.mktemp("registry"), shared_zip, mobilenet_weights)
