"""`kedro run --params` takes lists: through the project's real CLI, and its parser alone; `kedro
train-worker` refuses at once where it would not train beside a chief (tests/test_multi_worker.py
trains with it)."""

import json
import os
from pathlib import Path

import click
import pandas as pd
import pytest
from click.testing import CliRunner
from kedro.framework.cli.cli import KedroCLI

from cat_dog_classifier.cli import split_params
from tests.conftest import copy_project, inside


def test_kedro_run_passes_a_list_through_params(
    project_root: Path, samples_dir: Path, tmp_path: Path
) -> None:
    """The list's second entry is the local copy that exists: ingestion reads it."""
    project = copy_project(project_root, tmp_path / "project")
    local_copies = f"[{tmp_path / 'absent.zip'},{samples_dir}]"
    arguments = ["run", "--pipelines", "fetch,ingest"]
    arguments += ["--params", f"ingest.local_copies={local_copies},ingest.workers=1"]
    with inside(project):
        result = CliRunner().invoke(KedroCLI(project), arguments)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    assert os.readlink(project / "data/01_raw/image_source") == str(samples_dir)
    manifest = pd.read_parquet(project / "data/02_intermediate/image_manifest.parquet")
    usable = manifest[manifest["status"] == "ok"]
    assert sorted(usable["label"].value_counts().items()) == [("cat", 3), ("dog", 4)]


def test_params_split_only_on_commas_outside_brackets() -> None:
    value = "export.variants=[cnn, transfer],champion.alias=null,a.b={c: [x,y]},d=1.5,e=x=y"
    assert split_params(None, None, value) == {
        "export": {"variants": ["cnn", "transfer"]},
        "champion": {"alias": None},
        "a": {"b": {"c": ["x", "y"]}},
        "d": 1.5,
        "e": "x=y",
    }
    assert split_params(None, None, "") == {}
    parsed_config_file = {"export": {"variants": ["cnn", "transfer"]}}
    assert split_params(None, None, parsed_config_file) is parsed_config_file


def test_params_item_without_a_value_is_refused() -> None:
    with pytest.raises(click.BadParameter, match="'variants' is not key=value"):
        split_params(None, None, "champion.alias=null,variants")


WORKER_1 = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker"}}


@pytest.mark.parametrize(
    ("tf_config", "arguments", "refusal"),
    [
        (None, [], "TF_CONFIG is not set"),
        (WORKER_1 | {"task": {"type": "worker", "index": 1}}, [], "strategy is 'default' here"),
        (WORKER_1 | {"task": {"type": "worker", "index": 1}}, ["--variant", "cat"], "none of"),
        (
            WORKER_1 | {"task": {"type": "worker", "index": 0}},
            ["--params", "variants.cnn.training.strategy=multi_worker"],
            "this process is the chief",
        ),
    ],
)
def test_train_worker_refuses_to_run_where_it_would_not_train_beside_a_chief(
    project_root: Path, tmp_path: Path, tf_config: dict | None, arguments: list, refusal: str
) -> None:
    """At once, before reading any data: a worker's strategy would wait for the cluster first."""
    project = copy_project(project_root, tmp_path / "project")
    with inside(project), pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv("TF_CONFIG", raising=False)
        if tf_config:
            monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
        result = CliRunner().invoke(
            KedroCLI(project), ["train-worker", "--variant", "cnn", *arguments]
        )
    assert result.exit_code != 0
    assert refusal in f"{result.output}{result.exception}"
