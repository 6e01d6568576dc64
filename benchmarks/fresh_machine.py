"""A machine without ../shared: the Quickstart's `make run` on a fresh clone downloads the photos,
verifies and ingests them, and builds every stage; then `dvc status`, a second `make run`, and the
Quickstart's other command, `make test` (or `make test-fast`), on that clone.

    python benchmarks/fresh_machine.py                        # 200 real cats and 200 real dogs
    python benchmarks/fresh_machine.py --tests fast           # make test-fast instead of make test
    python benchmarks/fresh_machine.py --tests none --photos-per-class 100 --keep

What a user who clones the project anywhere gets, simulated on this offline machine:
- `git clone` of this checkout's HEAD (commit first: uncommitted changes are not in the clone) into
  a temporary folder with no `../shared` beside it, so every `auto` default takes its fallback;
- the photos: `ingest.download.url` (and its SHA-256) in the clone point to a server on 127.0.0.1
  that serves a small zip of real PetImages photos under Microsoft's file name, instead of
  Microsoft's 825 MB download (the one change to the clone);
- the backbone: Keras' cache (a fresh KERAS_HOME) holds the ImageNet MobileNetV2 weights under the
  name Keras downloads them as, made from ../shared's copy, as Keras' own download would leave it;
- no photos of other things: the third answer is off, with a warning.
`make run` installs everything into the clone (its own .venv, web/node_modules), bytecode on.
The tests then find their real data as on a user's machine (tests/real_data.py): the archive
`make run` downloaded, Keras' cache, scikit-image's photographs, the sample photos from PyPI.
Prints a table and writes benchmarks/results/fresh_machine.md.
"""

import argparse
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from functools import partial
from pathlib import Path

import yaml
from training import machine  # the benchmarks' one description of the machine (same folder)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
RESULTS = PROJECT_ROOT / "benchmarks" / "results"
ARCHIVE = "kagglecatsanddogs_5340.zip"  # Microsoft's file name, as ingest.download.url ends


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and counts the GET requests it answered."""

    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


def subset_zip(destination: Path, per_class: int) -> Path:
    """The first `per_class` cats and dogs of the shared PetImages zip, same layout."""
    with (
        zipfile.ZipFile(SHARED / "data/kagglecatsanddogs_180px.zip") as source,
        zipfile.ZipFile(destination, "w") as subset,
    ):
        for folder in ("Cat", "Dog"):
            for number in range(per_class):
                name = f"PetImages/{folder}/{number}.jpg"
                subset.writestr(source.getinfo(name), source.read(name))
    return destination


def keras_cache(keras_home: Path) -> str:
    """The ImageNet MobileNetV2 weights where Keras looks before downloading them: its legacy .h5
    of the whole backbone, named by `transfer`'s input size. Returns the file name."""
    import keras  # noqa: PLC0415 (only this step needs it)

    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_preprocess.yml").read_text())
    side = params["rgb192"]["image"]["height"]
    backbone = keras.applications.MobileNetV2(
        input_shape=(side, side, 3), include_top=False, weights=None
    )
    backbone.load_weights(SHARED / "models/mobilenet_v2_1.0_imagenet_no_top.weights.h5")
    name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{side}_no_top.h5"
    (keras_home / "models").mkdir(parents=True)
    backbone.save(keras_home / "models" / name)
    return name


def point_download_at(clone: Path, url: str, sha256: str) -> None:
    """Set ingest.download.url and .sha256 in the clone's parameters, comments kept."""
    params_file = clone / "conf/base/parameters_ingest.yml"
    text = params_file.read_text()
    text, urls = re.subn(r"(?m)^(\s+url: ).*$", rf"\g<1>{url}", text)
    text, sums = re.subn(r"(?m)^(\s+sha256: )[0-9a-f]{64}", rf"\g<1>{sha256}", text)
    assert (urls, sums) == (1, 1), "parameters_ingest.yml: no single download url and sha256"
    params_file.write_text(text)


def timed(command: list[str], cwd: Path, env: dict, log: Path) -> tuple[int, float, str]:
    """Exit status, wall seconds and output of `command`, its output also written to `log`."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    log.write_text(output)
    return result.returncode, time.perf_counter() - start, output


def first_line_with(output: str, words: str) -> str:
    found = [line.strip() for line in output.splitlines() if words in line]
    return re.sub(r"\s+", " ", found[0]) if found else "(none)"


def clone_env(workdir: Path) -> dict:
    """The clone's own tools, not this checkout's (no virtualenv of ours on PATH), bytecode on."""
    ours = str(PROJECT_ROOT / ".venv" / "bin")
    env = {
        k: v for k, v in os.environ.items() if k not in {"PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV"}
    }
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != ours)
    env["KERAS_HOME"] = str(workdir / "keras_home")
    env["COLUMNS"] = "400"  # Kedro's log lines unwrapped, one message a line
    return env


def run_steps(clone: Path, env: dict, logs: Path, tests: str) -> tuple[list[tuple], str]:
    """`make run`, `dvc status`, `make run` again, then the tests (`tests`: full, fast or none):
    (step, exit, seconds, note) rows, and the first run's output."""
    print("make run ...", flush=True)
    code, seconds, first = timed(["make", "run"], clone, env, logs / "make_run_1.log")
    downloads = len(CountingHandler.requests)
    rows = [("`make run`", code, seconds, f"{downloads} download request(s)")]
    if code != 0:
        return rows, first
    status = [str(clone / ".venv/bin/dvc"), "status"]
    status_code, status_s, said = timed(status, clone, env, logs / "dvc_status.log")
    rows.append(("`dvc status`", status_code, status_s, said.strip().splitlines()[-1]))
    print("make run again ...", flush=True)
    again_code, again_s, again = timed(["make", "run"], clone, env, logs / "make_run_2.log")
    new_downloads = len(CountingHandler.requests) - downloads
    note = f"{again.count('Running stage')} stage(s) run, {new_downloads} new download request(s)"
    rows.append(("`make run` again", again_code, again_s, note))
    if tests != "none":
        target = "test" if tests == "full" else "test-fast"
        print(f"make {target} ...", flush=True)
        code, seconds, said = timed(["make", target], clone, env, logs / f"make_{target}.log")
        summary = [line.strip("= ") for line in said.splitlines() if line.startswith("=")]
        rows.append((f"`make {target}`", code, seconds, summary[-1] if summary else "(no summary)"))
    return rows, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos-per-class", type=int, default=200)
    parser.add_argument(
        "--tests",
        choices=["full", "fast", "none"],
        default="full",
        help="then `make test` (full), `make test-fast` (fast) or no tests in the clone",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    arguments = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    machine_at_start = machine()  # its load average too
    workdir = Path(tempfile.mkdtemp(prefix="fresh_machine_"))
    clone, served = workdir / "clone", workdir / "server"
    served.mkdir()
    print(f"In {workdir}: a clone of {commit}, no ../shared beside it", flush=True)
    subprocess.run(["git", "clone", "-q", str(PROJECT_ROOT), str(clone)], check=True)
    assert not (workdir / "shared").exists()
    archive = subset_zip(served / ARCHIVE, arguments.photos_per_class)
    weights_file = keras_cache(workdir / "keras_home")

    CountingHandler.requests = []
    handler = partial(CountingHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/{ARCHIVE}"
    point_download_at(clone, url, hashlib.sha256(archive.read_bytes()).hexdigest())
    try:
        rows, first = run_steps(clone, clone_env(workdir), workdir, arguments.tests)
    finally:
        server.shutdown()

    metrics = {
        path.stem: round(json.loads(path.read_text())["test"]["accuracy"], 4)
        for path in sorted((clone / "data/08_reporting/metrics").glob("*.json"))
    }
    report = "\n".join(
        [
            "# A fresh machine without ../shared",
            "",
            "`python benchmarks/fresh_machine.py --photos-per-class"
            f" {arguments.photos_per_class} --tests {arguments.tests}`"
            f" at commit {commit}; machine: {machine_at_start}. The photos:"
            f" {2 * arguments.photos_per_class} real PetImages photos"
            f" ({archive.stat().st_size / 1e6:.1f} MB) from 127.0.0.1; Keras' cache:"
            f" {weights_file}.",
            "",
            "| step | exit | wall | what it showed |",
            "|---|---:|---:|---|",
            *(f"| {step} | {code} | {s:.1f} s | {note} |" for step, code, s, note in rows),
            "",
            f"- the photos: {first_line_with(first, 'Downloaded')}",
            f"- the backbone: {first_line_with(first, 'Backbone weights auto')}",
            f"- the third answer: {first_line_with(first, 'third answer')}",
            f"- test accuracy on the small set: {metrics}",
            "",
        ]
    )
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fresh_machine.md").write_text(report)
    if any(code != 0 for _, code, _, _ in rows):
        raise SystemExit(f"a step failed: the clone and its logs are kept in {workdir}")
    if arguments.keep:
        print(f"Kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
