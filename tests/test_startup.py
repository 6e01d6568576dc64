"""Start-up: the data stages never load TensorFlow (seconds per `kedro run` over a few files)."""

import sys
from pathlib import Path

import pytest

from tests.conftest import copy_project, make_small, run_command

# `kedro run` as the CLI runs it, reporting at exit which heavy modules the process loaded.
KEDRO_RUN_REPORTING_MODULES = """
import atexit, sys
from kedro.framework.cli import main
heavy = ("tensorflow", "keras", "tensorflowjs")
atexit.register(lambda: print("LOADED:", [m for m in heavy if m in sys.modules]))
sys.argv = ["kedro", "run", "--pipelines", sys.argv[1]]
main()
"""


@pytest.fixture(scope="module")
def small_project(
    project_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
    small_source_zip: Path,
    mobilenet_weights: Path,
) -> Path:
    project = copy_project(project_root, tmp_path_factory.mktemp("startup") / "project")
    return make_small(project, small_source_zip, mobilenet_weights)


@pytest.mark.parametrize("pipelines", ["config,fetch,ingest", "preprocess"])
def test_the_data_stages_run_without_tensorflow(small_project: Path, pipelines: str):
    result = run_command(
        [sys.executable, "-c", KEDRO_RUN_REPORTING_MODULES, pipelines], small_project
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LOADED: []" in result.stdout, result.stdout[-2000:]
    if "ingest" in pipelines:  # no photos of other things here: an empty folder, the answer off
        assert not any((small_project / "data/01_raw/neither_source").iterdir())


def test_the_check_sees_tensorflow_where_it_is_loaded(small_project: Path):
    # The same report from a run that needs TensorFlow: the check above can fail.
    script = KEDRO_RUN_REPORTING_MODULES.replace("main()", "import keras; main()")
    result = run_command([sys.executable, "-c", script, "config"], small_project)
    assert "'keras'" in result.stdout, result.stdout[-2000:]
