"""benchmarks/training.py: the wall time its repro mode reports per stage of `dvc repro`, and its
speed mode's verdict on the input pipeline."""

import argparse

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


def test_the_feeder_verdict_is_the_median_of_pairwise_ratios(training_benchmark):
    # interleaved repeats: the machine slowed down in the second pair, for both feeders alike
    arrays = [400.0, 200.0, 400.0]

    met = training_benchmark.feeder_verdict([392.0, 190.0, 384.0], arrays)
    missed = training_benchmark.feeder_verdict([360.0, 200.0, 340.0], arrays)

    assert met == "0.96 of arrays: target 0.95 met"  # 0.98, 0.95, 0.96
    assert missed == "0.90 of arrays: target 0.95 missed by 5% of arrays"  # 0.90, 1.00, 0.85


def test_a_batch_setting_keeps_the_variants_precision(training_benchmark):
    training = {"batch_size": 32, "precision": "float32"}

    assert training_benchmark.batch_and_precision("batch=128", training) == (128, "float32")
    assert training_benchmark.batch_and_precision("mixed_bfloat16", training) == (
        32,
        "mixed_bfloat16",
    )
    assert training_benchmark.batch_and_precision("arrays", training) == (32, "float32")


def test_the_speed_report_names_the_command_that_repeats_it(training_benchmark):
    chosen = argparse.Namespace(
        variants=["cnn_dropout_aug"], settings=["batch=32", "batch=64"], images=4096, repeats=2
    )
    defaults = argparse.Namespace(
        variants=None, settings=training_benchmark.DEFAULT_SETTINGS, images=2048, repeats=3
    )

    assert training_benchmark.speed_command(chosen) == (
        "python benchmarks/training.py speed --variants cnn_dropout_aug --settings batch=32 "
        "batch=64 --images 4096 --repeats 2"
    )
    assert training_benchmark.speed_command(defaults) == (
        "python benchmarks/training.py speed --images 2048 --repeats 3"
    )
