"""benchmarks/verify.py: a clone's dvc.lock against the committed one, stage by stage, and by how
much the numbers of a differing JSON output moved."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.benchmarks.conftest import load_benchmark
from tests.conftest import SmallProject, clone_project, dvc


@pytest.fixture(scope="module")
def verify():
    return load_benchmark("verify")


def test_json_numbers_are_compared_one_by_one_against_the_tolerance(verify):
    before = json.dumps({"test": {"accuracy": 0.9, "images": 30}, "variant": "cnn"}).encode()
    close = json.dumps({"test": {"accuracy": 0.9004, "images": 30}, "variant": "cnn"}).encode()
    other = json.dumps({"test": {"accuracy": 0.9004, "images": 30}, "variant": "cnn2"}).encode()

    said, worst, within = verify.compare_json(before, close, tolerance=1e-3)
    assert (said, within) == ("1 numbers moved: test.accuracy by 0.0004", True)
    assert worst == pytest.approx(4e-4)
    assert verify.compare_json(before, close, tolerance=1e-4)[2] is False
    assert verify.compare_json(before, other, tolerance=1e-3)[2] is False  # not numbers alone


def test_the_clone_links_what_this_checkout_downloaded_and_keeps_its_tracked_files(
    verify, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    checkout = tmp_path / "checkout"
    raw = checkout / "data/01_raw"
    raw.mkdir(parents=True)
    (raw / ".gitkeep").write_text("")
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    subprocess.run(["git", "-C", str(checkout), "add", "."], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(checkout),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "x",
        ],
        check=True,
    )
    (raw / "kagglecatsanddogs_5340.zip").write_bytes(b"downloaded")  # git-ignored in the project
    monkeypatch.setattr(verify, "PROJECT_ROOT", checkout)

    clone = verify.clone_beside_shared(tmp_path / "work")

    assert not (clone / "data/01_raw/.gitkeep").is_symlink()
    download = clone / "data/01_raw/kagglecatsanddogs_5340.zip"
    assert download.is_symlink() and download.read_bytes() == b"downloaded"


@pytest.mark.slow
def test_a_clone_whose_metrics_moved_is_named_stage_by_stage(
    verify, reproduced_project: SmallProject, tmp_path: Path
):
    reference = reproduced_project.path
    lock = yaml.safe_load((reference / "dvc.lock").read_text())
    clone = clone_project(reproduced_project, tmp_path / "clone").path
    assert all(not r.differing for r in verify.compare(reference, lock, clone, 1e-3))

    metrics_file = clone / "data/08_reporting/metrics/cnn.json"
    metrics = json.loads(metrics_file.read_text())
    metrics["test"]["accuracy"] += 5e-4
    metrics_file.write_text(json.dumps(metrics, indent=2))
    (clone / "data/08_reporting/cnn/roc_curve.png").write_bytes(b"another plot")
    dvc(clone, "commit", "--force", "evaluate@cnn")

    results = {r.stage: r for r in verify.compare(reference, lock, clone, 1e-3)}

    changed = results.pop("evaluate@cnn")
    assert all(not r.differing for r in results.values())
    assert changed.differing == [
        "data/08_reporting/cnn: 1 files: roc_curve.png",
        "data/08_reporting/metrics/cnn.json: 1 numbers moved: test.accuracy by 0.0005",
    ]
    assert changed.within_tolerance is False  # a folder differs
    assert changed.worst == pytest.approx(5e-4)
    assert "| evaluate@cnn | 4 | no |" in verify.table([*results.values(), changed], 1e-3)
