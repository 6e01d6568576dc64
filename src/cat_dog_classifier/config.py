"""The configuration as `dvc repro` sees it (conf/base alone), and the list of model variants in it.

`variants` in conf/base/parameters_train.yml is the one list of model variants: the pipelines are
built from it (one namespace per variant), dvc.yaml's `foreach` iterates over it, the champion and
the export take every variant in it, and the tests read it too. It is read from conf/base alone, as
DVC reads it, so the pipelines' shape never depends on a run environment.
"""

from pathlib import Path
from typing import Any

from kedro.framework.project import settings
from kedro.utils import find_kedro_project


def base_config(kind: str, project_path: Path | None = None) -> dict[str, Any]:
    """The `kind` configuration ("parameters", "catalog"...) of conf/base only, resolved."""
    project = project_path or find_kedro_project(Path.cwd())
    if project is None:
        raise RuntimeError(f"{Path.cwd()} is not inside a Kedro project")
    loader_args = {**settings.CONFIG_LOADER_ARGS, "default_run_env": "base"}
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(Path(project) / settings.CONF_SOURCE), **loader_args
    )
    return loader[kind]


def variants(project_path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every variant's parameter block, by name (its Kedro namespace), in the file's order."""
    return base_config("parameters", project_path)["variants"]
