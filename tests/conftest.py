"""Fixtures shared by every test: where the project and its real test data live (../shared, else
what `make run` fetched, else a verified download: tests/real_data.py), and small real projects
built once per session (by `kedro run`, and by `dvc repro`)."""

import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import yaml
from kedro.framework.project import settings
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from PIL import Image

from cat_dog_classifier.config import variants
from cat_dog_classifier.sources import file_sha256
from tests import real_data
from tests.http_server import ARCHIVE, Files, serving

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The project's own variant list (conf/base/parameters_train.yml).
VARIANTS = list(variants(PROJECT_ROOT))
# The small projects train one variant of each architecture: every code path, half the time.
SMALL_VARIANTS = ["cnn", "transfer"]


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def petimages_zip(pytestconfig: pytest.Config) -> Path:
    """Real PetImages photos: ../shared's, else the archive `make run` downloads and verifies."""
    return real_data.available(pytestconfig, real_data.pet_photos_zip)


@pytest.fixture(scope="session")
def samples_dir(pytestconfig: pytest.Config) -> Path:
    """Ten real labelled photos from other sources: `{cat,dog,other}/<name>`."""
    return real_data.available(pytestconfig, real_data.sample_photos)


@pytest.fixture(scope="session")
def mobilenet_weights(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """MobileNetV2's ImageNet weights (no top), a Keras `.weights.h5` file."""
    folder = tmp_path_factory.mktemp("weights")
    return real_data.available(pytestconfig, real_data.mobilenet_weights, folder)


@pytest.fixture(autouse=True)
def no_active_mlflow_run() -> Iterator[None]:
    """No test leaves an MLflow run active for the next one (as kedro-mlflow's own tests do)."""
    yield
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture
def mlflow_store(tmp_path: Path) -> Iterator[str]:
    """MLflow pointed at a new SQLite store in the test's folder, with an experiment; restored
    afterwards. Returns the tracking URI."""
    previous = mlflow.get_tracking_uri()
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("tests")
    yield uri
    mlflow.set_tracking_uri(previous)


def make_subset_zip(petimages_zip: Path, destination: Path, per_label: int) -> Path:
    """Copy the first `per_label` cats and dogs of a PetImages zip into a small zip, same layout."""
    with zipfile.ZipFile(petimages_zip) as source, zipfile.ZipFile(destination, "w") as subset:
        for folder in ("Cat", "Dog"):
            for number in range(per_label):
                name = f"PetImages/{folder}/{number}.jpg"
                subset.writestr(source.getinfo(name), source.read(name))
    return destination


@pytest.fixture(scope="session")
def small_source_zip(petimages_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 real cats and 150 real dogs of the PetImages photos, same layout."""
    return make_subset_zip(petimages_zip, tmp_path_factory.mktemp("source") / "petimages.zip", 150)


@pytest.fixture(scope="session")
def small_neither_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 real photos of neither cats nor dogs (tests/real_data.py), in one folder of a zip."""
    destination = tmp_path_factory.mktemp("neither") / "neither.zip"
    return real_data.neither_photos_zip(destination, 100)


PHOTO_SPLITS = {"train": 40, "validation": 12, "test": 12}  # photos per split, half cats, half dogs


def photo_set(zip_path: Path, size: int, mode: str) -> dict[str, np.ndarray]:
    """`{split}_images/labels/paths` arrays like the preprocess pipeline's, from real photos."""
    arrays: dict[str, np.ndarray] = {}
    start = 0
    with zipfile.ZipFile(zip_path) as source:
        for split, count in PHOTO_SPLITS.items():
            members = [
                (f"PetImages/{folder}/{number}.jpg", label)
                for number in range(start, start + count // 2)
                for label, folder in enumerate(("Cat", "Dog"))
            ]
            start += count // 2
            images = [
                np.asarray(
                    Image.open(io.BytesIO(source.read(name))).convert(mode).resize((size, size))
                )
                for name, _ in members
            ]
            stacked = np.stack(images).astype(np.uint8)
            arrays[f"{split}_images"] = stacked[..., None] if mode == "L" else stacked
            arrays[f"{split}_labels"] = np.array([label for _, label in members], dtype=np.uint8)
            arrays[f"{split}_paths"] = np.array([name for name, _ in members])
    return arrays


@pytest.fixture(scope="session")
def gray_set(small_source_zip: Path) -> dict[str, np.ndarray]:
    return photo_set(small_source_zip, 48, "L")


@pytest.fixture(scope="session")
def rgb_set(small_source_zip: Path) -> dict[str, np.ndarray]:
    return photo_set(small_source_zip, 64, "RGB")


@pytest.fixture(scope="session")
def archive(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The shared sample photos in the PetImages layout, as a zip of a few hundred kB."""
    path = tmp_path_factory.mktemp("archive") / "petimages.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for photo in sorted(samples_dir.glob("*/*.*")):
            if photo.parent.name in {"cat", "dog"}:
                folder = photo.parent.name.capitalize()
                archive.write(photo, f"PetImages/{folder}/{photo.name}")
    return path.read_bytes()


@pytest.fixture
def server(archive: bytes) -> Iterator[Files]:
    """A real HTTP server on 127.0.0.1 serving `archive` where Microsoft serves its download."""
    with serving({ARCHIVE: archive}) as served:
        yield served


def resident_file_bytes() -> int:
    """The bytes of memory-mapped files this process holds resident (Linux: RssFile)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no RssFile line")


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


def backbone_weights(path: Path) -> dict[str, str]:
    """The parameters that make `transfer` load the weights file `path`: the file and its SHA-256
    (the project pins its local copy's; Keras' own copy, taken where there is none, has others)."""
    return {"weights": str(path), "weights_sha256": file_sha256(path)}


def edit_yaml(path: Path, edit: Any) -> None:
    """Apply `edit(content)` to a YAML file in place (anchors are written out in full)."""
    content = yaml.safe_load(path.read_text())
    edit(content)
    path.write_text(yaml.safe_dump(content, sort_keys=False))


def make_small(
    project: Path, source_zip: Path, weights: Path, neither_zip: Path | None = None
) -> Path:
    """Configure a project copy, in conf/base as DVC reads it, to run in a minute or two: the small
    source (and photos of other things, or none: the third answer off), `cnn` and `transfer` only,
    a few epochs (the head's on cached features) and no fine-tuning, no quality gate. Input sizes
    and export settings stay the project's."""

    def ingest(params: dict) -> None:
        params["ingest"]["source"] = str(source_zip)
        params["ingest"]["neither_source"] = str(neither_zip) if neither_zip else None

    def train(params: dict) -> None:
        params["variants"] = {name: params["variants"][name] for name in SMALL_VARIANTS}
        params["variants"]["cnn"]["training"]["epochs"] = 4  # varied probabilities, seconds
        transfer = params["variants"]["transfer"]
        transfer["training"] |= {"epochs": 5, "fine_tune": {**transfer["training"]["fine_tune"]}}
        transfer["training"]["fine_tune"]["epochs"] = 0
        transfer["model"] |= backbone_weights(weights)  # wherever the tests run from

    def champion(params: dict) -> None:
        params["champion"]["min_test_accuracy"] = 0.0

    edit_yaml(project / "conf/base/parameters_ingest.yml", ingest)
    edit_yaml(project / "conf/base/parameters_train.yml", train)
    edit_yaml(project / "conf/base/parameters_champion.yml", champion)
    return project


def git_commit_all(project: Path, message: str = "project") -> None:
    """Make the copy a git repository with everything committed (lineage tags read it)."""
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm", message],
    ):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)


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
    params: dict[str, Any] | None = None,
    store: str | None = None,
    **options: Any,
) -> None:
    """`kedro run --pipelines ... --params ...` in `project`, through a real KedroSession."""
    # kedro-mlflow's hook is one object per process and keeps the last run's id: a pipeline whose
    # tracking is disabled (config) would reopen a finished run of another test's store. A `kedro
    # run` is one process and never meets it; several sessions in one process do.
    with inside(project, store):
        bootstrap_project(project)
        for hook in settings.HOOKS:
            if isinstance(hook, MlflowHook):
                hook.run_id = None
        with KedroSession.create(project_path=project, runtime_params=params or {}) as session:
            session.run(pipeline_names=pipelines, **options)


def command_environment(project: Path, **env: str) -> dict[str, str]:
    """The environment of a command of this environment (dvc, kedro, mlflow) run in `project` as a
    user's shell would: bytecode written (PYTHONDONTWRITEBYTECODE unset), the project's own MLflow
    store, `env` on top."""
    environment = {
        key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"
    }
    return environment | {
        # The stages call `kedro`: the one of this environment.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": tracking_uri(project),
        **env,
    }


def run_command(args: list[str], project: Path, **env: str) -> subprocess.CompletedProcess:
    """Run a command of this environment (dvc, kedro, mlflow) in `project`, its output captured."""
    return subprocess.run(
        args,
        cwd=project,
        env=command_environment(project, **env),
        capture_output=True,
        text=True,
        check=False,
    )


def dvc(project: Path, *args: str, check: bool = True, **env: str) -> str:
    """`dvc <args>` in `project`; its output (and fails the test on an error when `check`)."""
    result = run_command([sys.executable, "-m", "dvc", *args], project, **env)
    if check:
        assert result.returncode == 0, (
            f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout + result.stderr


@dataclass(frozen=True)
class SmallProject:
    path: Path

    @property
    def tracking_uri(self) -> str:
        return tracking_uri(self.path)


@pytest.fixture(scope="session")
def trained_project(
    project_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
    small_source_zip: Path,
    small_neither_zip: Path,
    mobilenet_weights: Path,
) -> SmallProject:
    """A small project copy after a plain `kedro run` (every pipeline, ingest to export) on 300
    real photos, with its own SQLite MLflow store. Read-only for the tests that use it."""
    project = copy_project(project_root, tmp_path_factory.mktemp("trained") / "project")
    make_small(project, small_source_zip, mobilenet_weights, small_neither_zip)
    git_commit_all(project)
    run_kedro(project, ["__default__"])
    return SmallProject(project)


@pytest.fixture(scope="session")
def reproduced_project(
    project_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
    small_source_zip: Path,
    small_neither_zip: Path,
    mobilenet_weights: Path,
) -> SmallProject:
    """A small project copy, a git repository, after `dvc repro` with bytecode on, its dvc.lock
    committed. Read-only: tests that change it work on `clone_project(...)`."""
    project = copy_project(project_root, tmp_path_factory.mktemp("reproduced") / "project")
    make_small(project, small_source_zip, mobilenet_weights, small_neither_zip)
    git_commit_all(project)
    dvc(project, "repro")
    git_commit_all(project, "dvc repro")
    return SmallProject(project)


def clone_project(project: SmallProject, destination: Path) -> SmallProject:
    """A full copy of a built project (git repository, data, DVC cache, MLflow store)."""
    shutil.copytree(project.path, destination, symlinks=True)
    # The copy's MLflow store keeps its artifact paths: rewrite them to the copy's own folder.
    store = destination / "mlflow.db"
    if store.is_file():
        import sqlite3  # noqa: PLC0415

        with sqlite3.connect(store) as connection:
            for table, column in (
                ("experiments", "artifact_location"),
                ("runs", "artifact_uri"),
                ("model_versions", "source"),
                ("model_versions", "storage_location"),
                ("logged_models", "artifact_location"),
            ):
                connection.execute(
                    f"UPDATE {table} SET {column} = replace({column}, ?, ?)",
                    (str(project.path), str(destination)),
                )
    return SmallProject(destination)
