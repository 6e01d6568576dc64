"""`dvc repro` of the fetch stage on project copies: DVC sees the resolved photos by content.

Python writes bytecode here as on users' machines (PYTHONDONTWRITEBYTECODE unset): `__pycache__`
folders must not make DVC see changed code.
"""

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import copy_project, make_subset_zip, tracking_uri
from tests.http_server import Files, serving

LINK = "data/01_raw/image_source"


def python(project: Path, *args: str, cwd: Path | None = None) -> str:
    """This environment's Python for `project`, writing bytecode as on a user's machine."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env |= {
        # The stages call `kedro`: the one of this environment.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": tracking_uri(project),
    }
    result = subprocess.run(
        [sys.executable, *args],
        cwd=cwd or project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def dvc(project: Path, *args: str) -> str:
    return python(project, "-m", "dvc", *args)


def set_ingest_params(project: Path, **values: object) -> None:
    params_file = project / "conf/base/parameters_ingest.yml"
    params = yaml.safe_load(params_file.read_text())
    params["ingest"] |= values
    params_file.write_text(yaml.safe_dump(params))


def new_project(project_root: Path, destination: Path) -> Path:
    project = copy_project(project_root, destination)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    return project


@pytest.fixture
def server(small_source_zip: Path) -> Iterator[Files]:
    with serving({"/kagglecatsanddogs_5340.zip": small_source_zip.read_bytes()}) as served:
        yield served


@pytest.mark.slow
def test_fresh_machine_downloads_once_and_ingests(
    project_root: Path, small_source_zip: Path, server: Files, tmp_path: Path
) -> None:
    """No ../shared: `auto` downloads (from 127.0.0.1), verifies, links and ingests, once."""
    project = new_project(project_root, tmp_path / "project")
    download = {
        "url": server.url("/kagglecatsanddogs_5340.zip"),
        "sha256": hashlib.sha256(small_source_zip.read_bytes()).hexdigest(),
        "directory": "data/01_raw",
    }
    set_ingest_params(project, local_copies=[str(tmp_path / "absent.zip")], download=download)

    first = dvc(project, "repro", "ingest")
    assert "Running stage 'fetch'" in first
    assert "Running stage 'ingest'" in first
    downloaded = project / "data/01_raw/kagglecatsanddogs_5340.zip"
    assert downloaded.read_bytes() == small_source_zip.read_bytes()
    assert os.readlink(project / LINK) == "kagglecatsanddogs_5340.zip"
    manifest = pd.read_parquet(project / "data/02_intermediate/image_manifest.parquet")
    assert (manifest["status"] == "ok").sum() == 300
    assert set(manifest["source"]) == {LINK}
    assert len(server.requests) == 1

    assert "up to date" in dvc(project, "status", "ingest")
    assert "Running stage" not in dvc(project, "repro", "ingest")

    # A source file touched but unchanged (a git checkout) gets new bytecode when imported: the
    # stages that depend on the code are still up to date.
    nodes = project / "src/cat_dog_classifier/pipelines/ingest/nodes.py"
    os.utime(nodes, ns=(nodes.stat().st_atime_ns, nodes.stat().st_mtime_ns + 10**9))
    python(project, "-c", "import cat_dog_classifier.pipelines.ingest", cwd=project / "src")
    assert "up to date" in dvc(project, "status", "ingest")
    # Even when the fetch stage runs again (its code or parameters changed), the finished
    # download is verified, not fetched again.
    forced = dvc(project, "repro", "--force", "--single-item", "fetch")
    assert "Running stage 'fetch'" in forced
    assert len(server.requests) == 1
    assert "up to date" in dvc(project, "status", "ingest")


@pytest.mark.slow
def test_local_copy_is_linked_and_followed_by_content(
    project_root: Path, petimages_zip: Path, small_source_zip: Path, tmp_path: Path
) -> None:
    """`auto` links the local copy (nothing copied); DVC sees its content change, and overrides."""
    local_copy = make_subset_zip(petimages_zip, tmp_path / "local_copy.zip", per_label=20)
    project = new_project(project_root, tmp_path / "project")
    set_ingest_params(project, local_copies=[str(local_copy)])

    assert "Running stage 'fetch'" in dvc(project, "repro", "fetch")
    assert os.readlink(project / LINK) == str(local_copy)
    cached = [path for path in (project / ".dvc/cache").rglob("*") if path.is_file()]
    assert not [path for path in cached if path.stat().st_size >= local_copy.stat().st_size]
    assert "up to date" in dvc(project, "status", "fetch")

    # The photos behind the link change: DVC sees it, although no parameter changed.
    make_subset_zip(petimages_zip, local_copy, per_label=10)
    status = dvc(project, "status", "fetch")
    assert "modified:" in status
    assert LINK in status

    # A path given in the parameters is a change DVC sees too (through the config stage, which
    # writes the parameters the fetch stage tracks).
    set_ingest_params(project, source=str(small_source_zip))
    assert "config" in dvc(project, "status")
    assert "Running stage 'fetch'" in dvc(project, "repro", "fetch")
    assert os.readlink(project / LINK) == str(small_source_zip)
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    params = lock["stages"]["fetch"]["params"]["kedro_params.yaml"]
    assert params["ingest.source"] == str(small_source_zip)
    assert "up to date" in dvc(project, "status", "fetch")
