"""Fixtures shared by every test: where the project and the shared real data live."""

import zipfile
from pathlib import Path

import pytest

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
