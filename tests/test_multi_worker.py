"""Training on several machines, for real: two workers on this machine, each a project copy of its
own with its own port on 127.0.0.1, gRPC between them. The chief runs `dvc repro train@cnn` and the
other worker `kedro train-worker --variant cnn`, the commands docs/training.md gives a user with two
machines; each trains on its half of the training photos and both end with the same weights, and
the chief alone writes the model, its history, the MLflow run and DVC's record of them."""

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from tests.conftest import (
    SmallProject,
    clone_project,
    command_environment,
    copy_project,
    dvc,
    edit_yaml,
    git_commit_all,
)

VARIANT = "cnn"
# The parameters both machines share (conf/local on each): one epoch of the cnn variant.
LOCAL_PARAMETERS = {"variants": {VARIANT: {"training": {"strategy": "multi_worker", "epochs": 1}}}}
# Both commands together, on 2 busy CPUs: a few minutes at most; past this, both are killed.
TIMEOUT_S = 600


@pytest.fixture(scope="module")
def preprocessed_project(
    project_root: Path, tmp_path_factory: pytest.TempPathFactory, small_source_zip: Path
) -> Path:
    """A project copy on 300 real photos after `dvc repro preprocess`, committed: what each machine
    has before training (a `dvc pull` would give it the same files)."""
    project = copy_project(project_root, tmp_path_factory.mktemp("multi_worker") / "project")

    def small_source(params: dict) -> None:
        params["ingest"]["source"] = str(small_source_zip)
        params["ingest"]["neither_source"] = None

    edit_yaml(project / "conf/base/parameters_ingest.yml", small_source)
    git_commit_all(project)
    dvc(project, "repro", "preprocess")
    git_commit_all(project, "dvc repro preprocess")
    return project


def free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 nothing listens on now (held together, so all differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for each in sockets:
            each.bind(("127.0.0.1", 0))
        return [each.getsockname()[1] for each in sockets]
    finally:
        for each in sockets:
            each.close()


def tf_config(ports: list[int], index: int) -> str:
    """TF_CONFIG for worker `index` of a cluster of one worker per port (worker 0: the chief)."""
    workers = [f"127.0.0.1:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time, Python's bytecode aside."""
    return {
        path.relative_to(folder).as_posix(): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def all_runs(client: MlflowClient) -> list:
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def run_together(commands: dict[str, tuple[list[str], Path, dict[str, str]]], logs: Path) -> dict:
    """Start every command at once (name: arguments, folder, environment), each in a process group
    of its own; wait for all up to TIMEOUT_S, then kill what still runs. Returns each one's exit
    status (None: killed) and output."""
    processes = {}
    try:
        for name, (args, cwd, env) in commands.items():
            with (logs / f"{name}.log").open("w") as log:
                processes[name] = subprocess.Popen(
                    args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
        deadline = time.monotonic() + TIMEOUT_S
        for process in processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                break
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return {
        name: (None if process.returncode < 0 else process.returncode,
               (logs / f"{name}.log").read_text())
        for name, process in processes.items()
    }  # fmt: skip


@pytest.mark.slow
def test_two_workers_train_one_model_and_the_chief_alone_writes_it(
    preprocessed_project: Path, tmp_path: Path
):
    chief, worker = (tmp_path / "chief", tmp_path / "worker")
    for machine in (chief, worker):
        clone_project(SmallProject(preprocessed_project), machine)  # its MLflow store its own
        (machine / "conf/local/parameters_train.yml").write_text(yaml.safe_dump(LOCAL_PARAMETERS))
    before = files(worker)
    client = MlflowClient(f"sqlite:///{chief / 'mlflow.db'}")
    earlier_runs = {run.info.run_id for run in all_runs(client)}  # fetch, ingest, preprocess
    dump = tmp_path / "worker_result.npz"  # outside the worker's project
    chief_command = [sys.executable, "-m", "dvc", "repro", f"train@{VARIANT}"]
    worker_command = [sys.executable, "-m", "kedro", "train-worker", "--variant", VARIANT]
    ports = free_ports(2)
    outcome = run_together(
        {
            "chief": (
                chief_command,
                chief,
                command_environment(chief, TF_CONFIG=tf_config(ports, 0)),
            ),
            "worker": (
                [*worker_command, "--dump", str(dump)],
                worker,
                command_environment(worker, TF_CONFIG=tf_config(ports, 1)),
            ),
        },
        tmp_path,
    )
    for name, (status, output) in outcome.items():
        assert status == 0, f"{name} exited {status} (None: killed after {TIMEOUT_S} s):\n{output}"

    # Each worker trained on its own half of the training photos, half the global batch a step:
    # so many steps an epoch, as Keras counts them (reading every photo would take twice as many).
    with np.load(chief / "data/05_model_input/gray100.npz") as model_input:
        photos = len(model_input["train_labels"])
    result = np.load(dump)
    worker_info = json.loads(str(result["info"]))
    assert (worker_info["worker"], worker_info["workers"]) == (1, 2)
    assert worker_info["train_photos"] == photos // 2
    parameters = yaml.safe_load((chief / "kedro_params.yaml").read_text())
    steps = -(-(photos // 2) // (parameters["variants"][VARIANT]["training"]["batch_size"] // 2))
    for name, (_, output) in outcome.items():
        assert re.search(rf"^{steps}/{steps} - ", output, re.MULTILINE), f"{name}:\n{output}"

    # Both ended with the same weights: the chief's model file holds the worker's final weights.
    model = keras.saving.load_model(chief / f"data/06_models/variants/{VARIANT}.keras")
    weights = [result[name] for name in sorted(result.files) if name.startswith("weight_")]
    assert len(weights) == len(model.get_weights())
    for saved, worker_weights in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(saved, worker_weights)
    # ... after the same epoch, validated on the same photos.
    history = json.loads((chief / f"data/08_reporting/training_history/{VARIANT}.json").read_text())
    worker_history = [
        {k: v for k, v in row.items() if k != "images_per_second"}
        for row in json.loads(str(result["history"]))
    ]
    assert worker_history == history and len(history) == 1

    # The chief alone wrote: its MLflow store holds its new run (the variant's, tagged with the two
    # workers), dvc.lock records its model file...
    runs = [run for run in all_runs(client) if run.info.run_id not in earlier_runs]
    [variant_run] = runs
    assert variant_run.data.tags["variant"] == VARIANT
    tags = variant_run.data.tags
    assert (tags["workers"], tags["worker"], tags["train_photos"]) == ("2", "0", str(photos // 2))
    model_file = chief / f"data/06_models/variants/{VARIANT}.keras"
    lock = yaml.safe_load((chief / "dvc.lock").read_text())["stages"][f"train@{VARIANT}"]
    recorded = {out["path"]: out["md5"] for out in lock["outs"]}
    assert recorded[f"data/06_models/variants/{VARIANT}.keras"] == (
        hashlib.md5(model_file.read_bytes()).hexdigest()
    )
    # ... and the worker nothing at all: no model, no history, no MLflow store, no dvc.lock change.
    after = files(worker)
    assert after == before, (
        f"the worker wrote {sorted(set(after) - set(before))}, "
        f"changed {sorted(k for k in set(after) & set(before) if after[k] != before[k])}"
    )
