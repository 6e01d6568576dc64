"""Time `kedro run` of ingest and preprocess on the full shared zip; print images/s and peak memory.

Each stage runs as its own `kedro run` in a temporary copy of the project, so the project's data/
is left alone. Per stage it reports the wall time of the whole command (Kedro start-up included),
the time Kedro reports for running the nodes, the peak RSS of the main process and the peak of
the summed RSS of the main process and its workers (sampled every 20 ms).

    python benchmarks/data_pipeline.py [--source ../shared/data/kagglecatsanddogs_180px.zip]

The table is printed and written to benchmarks/results/data_pipeline.md.
"""

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "data_pipeline.md"
STAGES = {
    "ingest": ["--pipeline", "ingest"],
    "split": ["--pipeline", "preprocess", "--nodes", "split_images"],
    "gray100": ["--pipeline", "preprocess", "--namespaces", "gray100"],
    "rgb160": ["--pipeline", "preprocess", "--namespaces", "rgb160"],
}
EXECUTION_TIME = re.compile(
    r"Pipeline execution completed.*?successfully in ([\d.]+) sec", re.DOTALL
)
MIB = 1024 * 1024


def copy_project(destination: Path) -> Path:
    for folder in ("conf", "src"):
        shutil.copytree(
            PROJECT_ROOT / folder,
            destination / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "local"),
        )
    (destination / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", destination)
    shutil.copy(PROJECT_ROOT / ".telemetry", destination)  # no consent prompt, nothing sent
    return destination


def run_stage(project: Path, arguments: list[str], source: Path) -> dict[str, float]:
    """Run one `kedro run`, sampling the memory of its whole process tree."""
    kedro = Path(sys.executable).with_name("kedro")
    command = [str(kedro), "run", *arguments, "--params", f"ingest.source={source}"]
    environment = os.environ | {
        "MLFLOW_TRACKING_URI": f"sqlite:///{project}/mlflow.db",
        "COLUMNS": "200",  # keeps Kedro's log lines whole for EXECUTION_TIME
    }
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=project,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak_tree = [0]
    sampler = threading.Thread(target=sample_tree_rss, args=(process.pid, peak_tree))
    sampler.start()
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{output[-5000:]}")
    execution = EXECUTION_TIME.search(output)
    return {
        "wall_s": wall,
        "nodes_s": float(execution.group(1)) if execution else float("nan"),
        "main_rss_mib": usage.ru_maxrss / 1024,
        "tree_rss_mib": peak_tree[0] / MIB,
    }


def sample_tree_rss(pid: int, peak: list[int]) -> None:
    try:
        main = psutil.Process(pid)
        while main.is_running() and main.status() != psutil.STATUS_ZOMBIE:
            total = 0
            for process in [main, *main.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a worker may exit meanwhile
                    total += process.memory_info().rss
            peak[0] = max(peak[0], total)
            time.sleep(0.02)
    except psutil.Error:
        return


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    if model:
        cpu = model.group(1)
    memory = psutil.virtual_memory().total / 1024**3
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory:.0f} GiB RAM, Python {platform.python_version()}, "
        f"load average before the run {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=PROJECT_ROOT.parent / "shared" / "data" / "kagglecatsanddogs_180px.zip",
    )
    arguments = parser.parse_args()
    source = arguments.source.resolve()
    host = machine()

    with tempfile.TemporaryDirectory(prefix="benchmark-data-") as scratch:
        project = copy_project(Path(scratch))
        results = {}
        for name, stage in STAGES.items():
            print(f"running {name} ...", flush=True)
            results[name] = run_stage(project, stage, source)
        report = json.loads((project / "data/08_reporting/ingestion_report.json").read_text())

    images = report["usable"]
    lines = [
        f"# Data pipeline benchmark: {report['files']} files, {images} usable images",
        "",
        f"Source: `{source}`. Machine: {host}.",
        "Command: `python benchmarks/data_pipeline.py`.",
        "",
        "| stage | kedro run wall (s) | nodes (s) | images/s (nodes) "
        "| peak RSS main (MiB) | peak RSS main + workers (MiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, result in results.items():
        rate = f"{images / result['nodes_s']:,.0f}" if name != "split" else "-"
        lines.append(
            f"| {name} | {result['wall_s']:.1f} | {result['nodes_s']:.1f} | {rate} "
            f"| {result['main_rss_mib']:,.0f} | {result['tree_rss_mib']:,.0f} |"
        )
    wall = sum(result["wall_s"] for result in results.values())
    nodes = sum(result["nodes_s"] for result in results.values())
    lines.append(
        f"| **all** | {wall:.1f} | {nodes:.1f} | {images / nodes:,.0f} "
        f"| {max(r['main_rss_mib'] for r in results.values()):,.0f} "
        f"| {max(r['tree_rss_mib'] for r in results.values()):,.0f} |"
    )
    table = "\n".join(lines) + "\n"
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table)


if __name__ == "__main__":
    main()
