"""Where a run's results come from: the git commit of the code and the DVC hash of the data.

Two hops from any model the page serves back to its origin: the export names the registry version
and the MLflow runs of each model (web/models/lineage.json); those runs carry these tags.
"""

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

# During `dvc repro`, DVC rewrites dvc.lock after each stage: that change is not the code's.
_NOT_CODE = ("dvc.lock",)

# What one run, or the MLflow store it logs to, hands out: another run of the same code on the same
# data gets others (new run ids; registry versions numbered in the order a store registered them;
# the commit, which is never the one that records the dvc.lock of its run). MLflow keeps them; the
# outputs DVC tracks leave them out, so that a rerun rewrites them byte for byte. What identifies a
# model there is its content: its MD5, the data hash, the split fingerprint.
RUN_IDENTITIES = ("version", "registered_run_id", "training_run_id", "git_commit", "git_dirty")


def by_content(record: dict[str, Any]) -> dict[str, Any]:
    """A model's record without the identities of its runs and store (RUN_IDENTITIES)."""
    return {key: value for key, value in record.items() if key not in RUN_IDENTITIES}


def git_state(project_path: Path) -> dict[str, str]:
    """`git_commit` (HEAD, or "unknown" outside a git checkout) and `git_dirty` ("true" when tracked
    or new, non-ignored files differ from it)."""
    try:
        commit = _git(project_path, "rev-parse", "HEAD")
        changes = _git(
            project_path, "status", "--porcelain", "--", ".", *(f":!{p}" for p in _NOT_CODE)
        )
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": str(bool(changes)).lower()}


def source_data_md5(project_path: Path) -> str | None:
    """DVC's MD5 of the ingested source data as dvc.lock records it (the `ingest` stage's data
    dependency), or None before the first `dvc repro`."""
    lock_file = project_path / "dvc.lock"
    if not lock_file.is_file():
        return None
    stage = yaml.safe_load(lock_file.read_text()).get("stages", {}).get("ingest", {})
    for dependency in stage.get("deps", []):
        # The source is the one dependency outside the project's code and configuration.
        if not dependency["path"].startswith(("src/", "conf/")):
            return dependency.get("md5")
    return None


def run_tags(project_path: Path) -> dict[str, str]:
    """The lineage tags every MLflow run gets: the git state, and under `dvc repro` the stage and
    the source data's hash (outside DVC, dvc.lock may describe other data than this run read)."""
    tags = git_state(project_path)
    if stage := os.environ.get("DVC_STAGE"):
        tags["dvc_stage"] = stage
        if data := source_data_md5(project_path):
            tags["data_md5"] = data
    return tags


def _git(project_path: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project_path, capture_output=True, text=True, check=True
    ).stdout.strip()
