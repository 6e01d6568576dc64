"""`make viz`: kedro-viz serves the project's real pipelines, offline, without trained data, and
writes nothing into the project (kedro-viz runs no hooks by default: no MLflow run starts)."""

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cat_dog_classifier.config import variants
from tests.conftest import copy_project

STARTUP_TIMEOUT_S = 180  # kedro-viz imports the pipelines (TensorFlow): ~12 s on a busy 2-core CPU


def free_port() -> int:
    """A free port below 49152: kedro-viz refuses the ephemeral range the system would pick."""
    for port in random.sample(range(20000, 49000), 50):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200, url
        return json.load(response)


def project_files(project: Path) -> set[Path]:
    """Every file of the copy but bytecode (Python's own, ignored by git)."""
    return {
        path.relative_to(project)
        for path in project.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def viz(project_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`kedro viz run` as `make viz` starts it, in a copy of the project (no data, no models, no
    MLflow store), on a free port, with the internet out of reach (PyPI's version check fails at
    once). Yields the server's address and the copy; stops it and its server process after."""
    project = copy_project(project_root, tmp_path_factory.mktemp("viz") / "project")
    port = free_port()
    log = project.parent / "viz.log"
    unreachable = "http://127.0.0.1:9"  # discard port: nothing listens there
    environment = os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HTTP_PROXY": unreachable,
        "HTTPS_PROXY": unreachable,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    before = project_files(project)
    with log.open("w") as output:
        # A session of its own: kedro-viz serves from a child process that outlives a killed parent.
        process = subprocess.Popen(
            ["kedro", "viz", "run", "--host", "127.0.0.1", "--port", str(port), "--no-browser"],
            cwd=project,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                get_json(f"{url}/api/main")
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"kedro viz did not answer in {STARTUP_TIMEOUT_S} s:\n{log.read_text()}"
                    )
                time.sleep(0.5)
        yield url, project
    finally:
        with contextlib.suppress(ProcessLookupError):  # nothing left if it failed to start
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert project_files(project) == before, "kedro viz wrote into the project"


@pytest.mark.slow
def test_viz_serves_every_pipeline_and_variant(viz: tuple[str, Path], project_root: Path) -> None:
    url, _ = viz
    graph = get_json(f"{url}/api/main")
    registered = {
        folder.name
        for folder in (project_root / "src/cat_dog_classifier/pipelines").iterdir()
        if (folder / "pipeline.py").is_file()
    }
    assert {"config", "ingest", "preprocess", "train", "evaluate", "champion"} <= registered
    assert {pipeline["id"] for pipeline in graph["pipelines"]} == registered | {"__default__"}
    assert graph["selected_pipeline"] == "__default__"

    names = {node["id"]: node.get("full_name", node["name"]) for node in graph["nodes"]}
    produced = {(names[edge["source"]], names[edge["target"]]) for edge in graph["edges"]}
    project_variants = list(variants(project_root))
    assert set(project_variants) <= set(graph["modular_pipelines"])
    for variant in project_variants:
        # each variant's namespace: training writes its model, its evaluation predicts with it,
        # and the export reads it
        assert (f"{variant}.train_model", f"{variant}.cat_dog_model") in produced, variant
        assert (f"{variant}.add_neither_output", f"{variant}.model") in produced, variant
        assert (f"{variant}.model", f"{variant}.predict") in produced, variant
        assert (f"{variant}.model", "export_tfjs_models") in produced, variant
    # the whole flow: the parameters the config stage resolves, the champion, the web export
    datasets = {node["name"] for node in graph["nodes"] if node["type"] == "data"}
    assert {"dvc_parameters", "exports", "champion_model"} <= datasets


@pytest.mark.slow
def test_viz_serves_the_train_pipeline_alone(viz: tuple[str, Path], project_root: Path) -> None:
    url, _ = viz
    graph = get_json(f"{url}/api/pipelines/train")
    assert graph["selected_pipeline"] == "train"
    tasks = [node for node in graph["nodes"] if node["type"] == "task"]
    trained = sorted(
        node["modular_pipelines"][0] for node in tasks if node["name"] == "train_model"
    )
    assert trained == sorted(variants(project_root))
    assert all("train" in node["pipelines"] for node in tasks)
    assert not any(node["name"] in {"predict", "compute_metrics"} for node in tasks)  # evaluate
