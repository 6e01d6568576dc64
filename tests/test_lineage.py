"""Lineage: the git state of the code and the data hash dvc.lock records."""

import subprocess
from pathlib import Path

import pytest

from cat_dog_classifier.lineage import git_state, run_tags, source_data_md5


def git(repository: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repository,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    (tmp_path / ".gitignore").write_text("data/\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "code")
    return tmp_path


def test_a_clean_checkout_is_its_commit(repository: Path):
    state = git_state(repository)
    assert len(state["git_commit"]) == 40
    assert state["git_dirty"] == "false"


def test_dvc_lock_and_ignored_files_do_not_make_it_dirty(repository: Path):
    (repository / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")  # `dvc repro` writes it
    (repository / "data").mkdir()
    (repository / "data" / "model.keras").write_bytes(b"model")
    assert git_state(repository)["git_dirty"] == "false"


@pytest.mark.parametrize("change", ["edit", "new file"])
def test_changed_or_new_code_makes_it_dirty(repository: Path, change: str):
    if change == "edit":
        (repository / "code.py").write_text("x = 2\n")
    else:
        (repository / "more.py").write_text("y = 1\n")
    assert git_state(repository)["git_dirty"] == "true"


def test_outside_git_the_state_is_unknown(tmp_path: Path):
    assert git_state(tmp_path) == {"git_commit": "unknown", "git_dirty": "unknown"}


def test_the_data_hash_is_the_ingest_stages_data_dependency(tmp_path: Path, monkeypatch):
    assert source_data_md5(tmp_path) is None  # before the first `dvc repro`
    (tmp_path / "dvc.lock").write_text(
        """schema: '2.0'
stages:
  ingest:
    cmd: kedro run --pipelines ingest
    deps:
    - path: src/cat_dog_classifier/images.py
      md5: 11111111111111111111111111111111
    - path: ../shared/data/kagglecatsanddogs_180px.zip
      md5: 38d042c61451bf25ecb7de0ceeec1ba4
"""
    )
    assert source_data_md5(tmp_path) == "38d042c61451bf25ecb7de0ceeec1ba4"

    monkeypatch.delenv("DVC_STAGE", raising=False)
    assert "data_md5" not in run_tags(tmp_path)  # outside DVC, dvc.lock may describe other data
    monkeypatch.setenv("DVC_STAGE", "train@cnn")
    tags = run_tags(tmp_path)
    assert tags["data_md5"] == "38d042c61451bf25ecb7de0ceeec1ba4"
    assert tags["dvc_stage"] == "train@cnn"
