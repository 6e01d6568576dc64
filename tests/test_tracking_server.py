"""Beyond one machine: a pipeline run logs and registers to a real `mlflow server` process, with
its own backend store and artifact root, as README documents for a team."""

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from cat_dog_classifier.model_files import model_md5
from cat_dog_classifier.registry import download_model_file
from tests.conftest import SmallProject, clone_project, run_kedro

NAME = "cat_dog_classifier"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1: SQLite backend store, artifacts served from its own folder."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            *("--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"),
            *("--artifacts-destination", str(tmp_path / "server-artifacts")),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlflow server did not start: {server.stderr.read()}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_training_and_evaluation_log_and_register_to_a_tracking_server(
    reproduced_project: SmallProject, tmp_path: Path, tracking_server: str
):
    project = clone_project(reproduced_project, tmp_path / "project").path

    run_kedro(project, ["train", "evaluate"], store=tracking_server, namespaces=["cnn"])

    client = MlflowClient(tracking_server)
    experiment = client.get_experiment_by_name(NAME)
    [run] = client.search_runs(
        [experiment.experiment_id], filter_string="tags.variant = 'cnn'", max_results=5
    )
    assert run.data.params["training.epochs"] == "4"  # the variant's block under its own keys
    assert {"val_accuracy", "validation_accuracy", "test_accuracy"} <= set(run.data.metrics)
    model_file = (project / "data/06_models/variants/cnn.keras").read_bytes()
    assert run.data.tags["trained_model_md5"] == model_md5(model_file)

    [version] = client.search_model_versions(f"name = '{NAME}'")
    assert version.tags["model_md5"] == model_md5(model_file)
    assert version.run_id == run.info.run_id
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_server)
    try:  # the server's artifact store holds the very file DVC tracks
        assert download_model_file(NAME, version.version) == model_file
    finally:
        mlflow.set_tracking_uri(previous)
