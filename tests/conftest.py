"""Fixtures shared by every test: where the project and the shared real data live."""

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
