"""Does a fresh clone reproduce the committed dvc.lock, byte for byte?

    python benchmarks/verify.py                  # clone HEAD, `dvc repro --force` there, compare
    python benchmarks/verify.py --keep           # and keep the clone (outputs, MLflow store, log)
    python benchmarks/verify.py --clone DIR      # compare a clone that has run already, no rerun
    python benchmarks/verify.py --tolerance 0    # any metric that moved at all is out of tolerance

What a user who clones the project and runs the Quickstart gets, on this machine:
- `git clone` of this checkout's HEAD (commit first: uncommitted changes are not in the clone) into
  a scratch folder, beside a `shared` link to this checkout's ../shared (and with the downloads of
  this checkout's data/01_raw linked in), so that the clone finds the photos and weights this
  checkout found, and downloads nothing;
- `dvc repro --force` there, with this environment's tools, bytecode on, and the clone's own MLflow
  store: this checkout's runs and registry are not touched;
- then, stage by stage of the committed dvc.lock, each output's MD5 against the clone's. Of an
  output that differs it names what: the files of a folder that differ, and for JSON files (metrics,
  histories, evaluations) the numbers that moved and by how much, against the committed file (read
  from this checkout's DVC cache, else from its working copy when that is the recorded one).
  A number within `--tolerance` (absolute; 0.001 by default, a tenth of a percentage point of
  accuracy) counts as reproduced within tolerance: the bytes still differ, and the table says so.

Prints a table and writes it to benchmarks/results/verify.md.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "benchmarks" / "results"
DEFAULT_TOLERANCE = 1e-3


@dataclass
class StageResult:
    stage: str
    outputs: int = 0
    differing: list[str] = field(default_factory=list)  # one line per differing output
    worst: float = 0.0  # the largest difference of a number in a differing JSON output
    within_tolerance: bool = True  # every differing output is JSON whose numbers are in tolerance


def lock_outputs(lock: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{stage: {output path: MD5}} of a dvc.lock."""
    return {
        name: {out["path"]: out["md5"] for out in stage.get("outs", [])}
        for name, stage in lock["stages"].items()
    }


def cached(project: Path, md5: str) -> Path | None:
    """The file DVC's cache holds for this MD5 (a folder's listing for `<md5>.dir`), if any."""
    path = project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    return path if path.is_file() else None


def content(project: Path, path: str, md5: str) -> bytes | None:
    """An output's recorded bytes: from the DVC cache, else the working copy if it is them."""
    if source := cached(project, md5):
        return source.read_bytes()
    working = project / path
    if working.is_file() and hashlib.md5(working.read_bytes()).hexdigest() == md5:
        return working.read_bytes()
    return None


def numbers(value: Any, prefix: str = "") -> dict[str, float]:
    """Every number in a JSON value, by its path (`test.accuracy`, `3.val_loss`)."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, int | float):
        return {prefix: float(value)}
    if not isinstance(value, dict | list):
        return {}
    found = {}
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        found |= numbers(item, f"{prefix}.{key}" if prefix else str(key))
    return found


def compare_json(reference: bytes, reproduced: bytes, tolerance: float) -> tuple[str, float, bool]:
    """What differs between two JSON files, the largest difference of a number, and whether the
    files differ in numbers alone, each within `tolerance`."""
    before, after = json.loads(reference), json.loads(reproduced)
    old, new = numbers(before), numbers(after)
    moved = {
        key: abs(new[key] - old[key]) for key in old.keys() & new.keys() if new[key] != old[key]
    }
    same_shape = old.keys() == new.keys() and _without_numbers(before) == _without_numbers(after)
    worst = max(moved.values(), default=0.0)
    if not moved:
        return "numbers identical, other content differs", 0.0, False
    top = sorted(moved.items(), key=lambda item: -item[1])[:3]
    said = ", ".join(f"{key} by {difference:.2g}" for key, difference in top)
    more = f" (and {len(moved) - len(top)} more)" if len(moved) > len(top) else ""
    return f"{len(moved)} numbers moved: {said}{more}", worst, same_shape and worst <= tolerance


def _without_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_numbers(item) for item in value]
    return None if isinstance(value, int | float) and not isinstance(value, bool) else value


def compare_folder(reference: Path, clone: Path, md5: str, new_md5: str) -> str:
    """The files of a folder output that differ, from both caches' listings of it."""
    old_listing, new_listing = cached(reference, md5), cached(clone, new_md5)
    if old_listing is None or new_listing is None:
        return "folder (its listing is not in both DVC caches)"
    old = {entry["relpath"]: entry["md5"] for entry in json.loads(old_listing.read_text())}
    new = {entry["relpath"]: entry["md5"] for entry in json.loads(new_listing.read_text())}
    differing = sorted(path for path in old.keys() | new.keys() if old.get(path) != new.get(path))
    shown = ", ".join(differing[:5]) + (f" (+{len(differing) - 5})" if len(differing) > 5 else "")
    return f"{len(differing)} files: {shown}"


def compare(reference: Path, lock: dict, clone: Path, tolerance: float) -> list[StageResult]:
    """Each stage of the committed `lock` against the clone's dvc.lock."""
    committed = lock_outputs(lock)
    reproduced = lock_outputs(yaml.safe_load((clone / "dvc.lock").read_text()))
    results = []
    for stage, outputs in committed.items():
        result = StageResult(stage, outputs=len(outputs))
        for path, md5 in outputs.items():
            new_md5 = reproduced.get(stage, {}).get(path)
            if new_md5 == md5:
                continue
            worst = 0.0
            if new_md5 is None:
                said, close = "not reproduced (stage or output missing in the clone)", False
            elif md5.endswith(".dir"):
                said, close = compare_folder(reference, clone, md5, new_md5), False
            else:
                said, worst, close = describe_file(reference, clone, path, md5, tolerance)
            result.worst = max(result.worst, worst)
            result.differing.append(f"{path}: {said}")
            result.within_tolerance &= close
        results.append(result)
    return results


def describe_file(
    reference: Path, clone: Path, path: str, md5: str, tolerance: float
) -> tuple[str, float, bool]:
    """What differs in a file output, the largest difference of a number, and whether in
    tolerance."""
    old, new = content(reference, path, md5), (clone / path).read_bytes()
    if old is None:
        return "committed file not available here (not in this checkout's DVC cache)", 0.0, False
    if not path.endswith(".json"):
        return f"{len(old):,} bytes, now {len(new):,}", 0.0, False
    return compare_json(old, new, tolerance)


def table(results: list[StageResult], tolerance: float) -> str:
    lines = [
        "| stage | outputs | byte for byte | what differs |",
        "|---|---:|---|---|",
    ]
    for result in results:
        if not result.differing:
            verdict = "identical"
        elif result.within_tolerance:
            verdict = f"no: numbers within {tolerance:g} (largest {result.worst:.2g})"
        else:
            verdict = "no"
        lines.append(
            f"| {result.stage} | {result.outputs} | {verdict} | "
            f"{'<br>'.join(result.differing) or ''} |"
        )
    return "\n".join(lines)


def clone_beside_shared(workdir: Path) -> Path:
    """HEAD of this checkout cloned into `workdir`, finding what this checkout finds."""
    clone = workdir / PROJECT_ROOT.name
    subprocess.run(["git", "clone", "-q", str(PROJECT_ROOT), str(clone)], check=True)
    shared = PROJECT_ROOT.parent / "shared"
    if shared.exists():
        (workdir / "shared").symlink_to(shared.resolve())
    raw = PROJECT_ROOT / "data" / "01_raw"
    for download in raw.glob("*") if raw.is_dir() else []:  # what `auto` downloaded, if anything
        link = clone / "data" / "01_raw" / download.name
        # the clone has the tracked files (.gitkeep) already
        if download.is_file() and not download.is_symlink() and not link.exists():
            link.symlink_to(download)
    return clone


def reproduce(clone: Path) -> float:
    """`dvc repro --force` in the clone as a user's shell runs it; its wall time in seconds."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{clone / 'mlflow.db'}"
    started = time.perf_counter()
    with (clone / "verify-repro.log").open("w") as log:
        process = subprocess.run(
            [sys.executable, "-m", "dvc", "repro", "--force"],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if process.returncode:
        raise SystemExit(f"dvc repro failed in the clone ({process.returncode}): see its log")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clone", type=Path, help="a clone that has run: compare only")
    parser.add_argument("--keep", action="store_true", help="keep the clone and its log")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    arguments = parser.parse_args()

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    lock = yaml.safe_load(
        subprocess.run(
            ["git", "show", "HEAD:dvc.lock"], cwd=PROJECT_ROOT, capture_output=True, check=True
        ).stdout
    )
    workdir = None
    seconds = None
    if arguments.clone:
        clone = arguments.clone.resolve()
    else:
        workdir = Path(tempfile.mkdtemp(prefix="verify-"))
        clone = clone_beside_shared(workdir)
        print(f"dvc repro --force in {clone} (log: {clone / 'verify-repro.log'})", flush=True)
        seconds = reproduce(clone)
    try:
        results = compare(PROJECT_ROOT, lock, clone, arguments.tolerance)
    finally:
        if workdir and not arguments.keep:
            shutil.rmtree(workdir)
    identical = sum(not r.differing for r in results)
    outputs = sum(r.outputs for r in results)
    differing = sum(len(r.differing) for r in results)
    ran = f", dvc repro --force {seconds / 60:.1f} min" if seconds else ", compared only"
    report = "\n".join(
        [
            f"# A fresh clone against the committed dvc.lock ({datetime.now(UTC):%Y-%m-%d})",
            "",
            f"Commit {commit}; {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs{ran}. Tolerance for numbers: {arguments.tolerance:g}.",
            "",
            table(results, arguments.tolerance),
            "",
            f"{identical} of {len(results)} stages identical; {differing} of {outputs} outputs "
            "differ from dvc.lock.",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "verify.md").write_text(report + "\n")
    print(report)
    if arguments.keep and workdir:
        print(f"\nThe clone: {clone}")
    sys.exit(0 if differing == 0 else 1)


if __name__ == "__main__":
    main()
