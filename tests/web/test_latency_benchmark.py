"""benchmarks/web_latency.py on the exported models, in few frames: its table, the shipped export
named, and a heap reading that tells the page's objects from V8's code."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT


@pytest.mark.slow
def test_the_latency_benchmark_writes_its_table(
    exported_web_dir: Path, samples_dir: Path, tmp_path: Path
):
    output = tmp_path / "web_latency.md"
    run = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "benchmarks" / "web_latency.py"),
            *("--web-dir", str(exported_web_dir), "--models", "cnn", "--backends", "wasm"),
            *("--photo", str(samples_dir / "dog/dog.jpeg")),
            *("--frames", "5", "--warmup", "1", "--settle", "0.5", "--kernel-runs", "3"),
            *("--heap-frames", "20", "--heap-warmup", "20", "--output", str(output)),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = output.read_text()
    assert "after 20 frames of warm-up" in report
    rows = [line for line in report.splitlines() if line.startswith("| cnn |")]
    assert len(rows) == 1, report
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert cells[1] == "float16"  # the CNNs ship as float16
    assert re.fullmatch(r"wasm( \(\d threads\))?", cells[3]), cells[3]  # two on 2 cores
    # Heap growth: the page's objects, then everything (V8's code included), in kB.
    assert re.fullmatch(r"[+-]\d+\.\d / [+-]\d+", cells[8]), cells[8]
    assert re.fullmatch(r"\d+\.\d, \d+\.\d", cells[9]), cells[9]  # first load: MB, s
    # Where the model's time goes: the study's CNN is its convolutions and its Dense layer (which
    # one leads depends on the machine's load: the Dense layer's 7 MB of weights are memory-bound).
    kernels = re.search(r"Kernels, cnn on wasm \(tf.profile[^:]*: (.*)", report)
    assert kernels, report
    shares = dict(re.findall(r"(\w+) [\d.]+ ms \((\d+)%\)", kernels.group(1)))
    assert int(shares.get("FusedConv2D", 0)) + int(shares.get("_FusedMatMul", 0)) >= 70, shares
    # Preprocessing alone, per engine, in turn: both measured, WebAssembly the faster.
    engines = re.search(
        r"Preprocessing alone, cnn .*: WebAssembly ([\d.]+) ms, plain JS ([\d.]+)", report
    )
    assert engines and 0 < float(engines.group(1)) < float(engines.group(2)), report
