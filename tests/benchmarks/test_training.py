"""benchmarks/training.py's repro mode: the wall time it reports per stage of `dvc repro`."""

import pytest

from tests.benchmarks.conftest import load_benchmark


@pytest.fixture(scope="module")
def training_benchmark():
    return load_benchmark("training")


def test_each_stage_runs_from_its_start_to_the_next_stages(training_benchmark):
    # lines as `dvc repro` prints them (tests/test_dvc.py reads the same lines from real runs)
    timed_lines = [
        (0.5, "Running stage 'config':\n"),
        (0.6, "> kedro run --pipelines config\n"),
        (3.0, "Running stage 'train@cnn':\n"),
        (50.0, "Epoch 1/5\n"),
        (120.0, "Running stage 'export':\n"),
        (125.0, "Updating lock file 'dvc.lock'\n"),
    ]

    durations = training_benchmark.stage_durations(timed_lines, end=130.0)

    assert durations == pytest.approx({"config": 2.5, "train@cnn": 117.0, "export": 10.0})
