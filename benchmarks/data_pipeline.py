"""Time ingest and preprocess on the full shared zip; print images/s and peak memory per stage.

Two measurements, each stage in its own process, in a temporary copy of the project (the
project's data/ is left alone):
- `kedro run`: the whole command (Kedro start-up and hooks included) and the time Kedro reports
  for the pipeline (nodes, datasets and hooks such as kedro-mlflow's);
- in-process: the same node functions and catalog datasets called directly, without Kedro.
Memory: the peak RSS of the main process, and the peak of the summed RSS of the main process and
its workers; CPU: user + system seconds of all of them (sampled every 20 ms). On a shared machine
the wall times depend on the load; the CPU seconds much less.

    python benchmarks/data_pipeline.py [--source ../shared/data/kagglecatsanddogs_180px.zip]

The table is printed and written to benchmarks/results/data_pipeline.md.
"""

import argparse
import contextlib
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

import pandas as pd
import psutil
from kedro.io import DataCatalog

from cat_dog_classifier.datasets import NpzDataset
from cat_dog_classifier.pipelines.ingest import nodes as ingest
from cat_dog_classifier.pipelines.preprocess import nodes as preprocess

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "data_pipeline.md"
STAGES = {
    "ingest": ["--pipelines", "ingest"],
    "split": ["--pipelines", "preprocess", "--nodes", "split_images"],
    "gray100": ["--pipelines", "preprocess", "--namespaces", "gray100"],
    "rgb160": ["--pipelines", "preprocess", "--namespaces", "rgb160"],
}
STAGE_TIME = re.compile(r"stage seconds: ([\d.]+)")
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


def run_stage(project: Path, command: list[str]) -> dict[str, float]:
    """Run one stage's command, sampling the memory of its whole process tree."""
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
    peak_tree, cpu_by_pid = [0], {}
    sampler = threading.Thread(target=sample_tree, args=(process.pid, peak_tree, cpu_by_pid))
    sampler.start()
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed:\n{output[-5000:]}")
    inner = EXECUTION_TIME.search(output) or STAGE_TIME.search(output)
    return {
        "wall_s": wall,
        "inner_s": float(inner.group(1)),
        "main_rss_mib": usage.ru_maxrss / 1024,
        "tree_rss_mib": peak_tree[0] / MIB,
        "cpu_s": sum(cpu_by_pid.values()),
    }


def run_in_process(stage: str, source: Path) -> None:
    """One stage's nodes and datasets without Kedro, reading and writing the catalog's files."""
    start = time.perf_counter()
    catalog = DataCatalog.from_config(
        {
            name: {"type": "pandas.ParquetDataset", "filepath": f"data/{path}.parquet"}
            for name, path in [
                ("manifest", "02_intermediate/image_manifest"),
                ("splits", "03_primary/image_splits"),
            ]
        }
    )
    if stage == "ingest":
        params = {"source": str(source), "min_side": 32, "max_pixels": 40_000_000, "workers": None}
        catalog.save(
            "manifest", ingest.reject_duplicates(ingest.inspect_images(str(source), params))
        )
    elif stage == "split":
        split = {"train": 0.8, "validation": 0.1, "test": 0.1, "seed": 42}
        catalog.save("splits", preprocess.split_images(catalog.load("manifest"), split))
    else:
        height, color_mode = (100, "grayscale") if stage == "gray100" else (160, "rgb")
        image = {"height": height, "width": height, "color_mode": color_mode}
        arrays = preprocess.preprocess_images(
            catalog.load("splits"), image | {"interpolation": "linear"}, None
        )
        NpzDataset(filepath=f"data/05_model_input/{stage}.npz").save(arrays)
    print(f"stage seconds: {time.perf_counter() - start:.2f}")


def sample_tree(pid: int, peak: list[int], cpu_by_pid: dict[int, float]) -> None:
    """Record the peak summed RSS and the CPU seconds (user + system) of the process tree."""
    try:
        main = psutil.Process(pid)
        while main.is_running() and main.status() != psutil.STATUS_ZOMBIE:
            total = 0
            for process in [main, *main.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a worker may exit meanwhile
                    total += process.memory_info().rss
                    times = process.cpu_times()
                    cpu_by_pid[process.pid] = times.user + times.system
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
    parser.add_argument("--in-process-stage", choices=STAGES, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    source = arguments.source.resolve()
    if arguments.in_process_stage:
        run_in_process(arguments.in_process_stage, source)
        return
    host = machine()
    kedro = str(Path(sys.executable).with_name("kedro"))
    modes = {
        "kedro run": lambda stage: [
            kedro,
            "run",
            *STAGES[stage],
            "--params",
            f"ingest.source={source}",
        ],
        "in-process": lambda stage: [
            sys.executable,
            __file__,
            "--source",
            str(source),
            "--in-process-stage",
            stage,
        ],
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    for mode, command in modes.items():
        with tempfile.TemporaryDirectory(prefix="benchmark-data-") as scratch:
            project = copy_project(Path(scratch))
            results[mode] = {}
            for stage in STAGES:
                print(f"{mode}: {stage} ...", flush=True)
                results[mode][stage] = run_stage(project, command(stage))
            manifest = pd.read_parquet(project / "data/02_intermediate/image_manifest.parquet")

    files, images = len(manifest), int((manifest["status"] == "ok").sum())
    lines = [
        f"# Data pipeline benchmark: {files} files, {images} usable images",
        "",
        f"Source: `{source}`. Machine: {host}.",
        "Command: `python benchmarks/data_pipeline.py`.",
        "",
        "| mode | stage | command wall (s) | pipeline / stage (s) | images/s | CPU (s) "
        "| peak RSS main (MiB) | peak RSS main + workers (MiB) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode, stages in results.items():
        rows = [*stages.items(), ("**all**", _total(stages))]
        for stage, result in rows:
            rate = "-" if stage == "split" else f"{images / result['inner_s']:,.0f}"
            lines.append(
                f"| {mode} | {stage} | {result['wall_s']:.1f} | {result['inner_s']:.1f} | {rate} "
                f"| {result['cpu_s']:.1f} "
                f"| {result['main_rss_mib']:,.0f} | {result['tree_rss_mib']:,.0f} |"
            )
    table = "\n".join(lines) + "\n"
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table)


def _total(stages: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        "wall_s": sum(result["wall_s"] for result in stages.values()),
        "inner_s": sum(result["inner_s"] for result in stages.values()),
        "cpu_s": sum(result["cpu_s"] for result in stages.values()),
        "main_rss_mib": max(result["main_rss_mib"] for result in stages.values()),
        "tree_rss_mib": max(result["tree_rss_mib"] for result in stages.values()),
    }


if __name__ == "__main__":
    main()
