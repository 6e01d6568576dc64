"""Time ingest and preprocess on the full shared zip; print images/s, CPU and peak memory per stage.

Three ways to run the same two stages, each command in its own process, in temporary copies of
the project (the project's data/ is left alone):
- node functions: the nodes and catalog datasets called directly, without Kedro;
- `kedro run --pipelines <stage>`: the whole command, and the time Kedro reports for the
  pipeline (nodes, datasets, hooks); the rest is start-up (imports, session, catalog, MLflow);
- `dvc repro --single-item <stage>` in a fresh DVC project: adds DVC's own work (hashing the
  dependencies and outputs, copying the outputs into its cache) to the `kedro run`.
Every mode runs with Python's byte-code cache on (as on users' machines) after one unmeasured
warm-up, and starts from the files the stages write not existing, the photos linked by the
`fetch` stage (not measured). Memory: the peak RSS of the
main process, and the peak of the summed RSS of the process tree; CPU: user + system seconds of
the whole tree (sampled every 20 ms). On a shared machine the wall times depend on the load
(printed before and after each mode); the CPU seconds much less.

    python benchmarks/data_pipeline.py [--source ZIP] [--modes nodes,kedro,dvc] [--profile]
                                       [--dvc-cache-type hardlink]

The table is printed and written to benchmarks/results/data_pipeline.md. `--profile` adds, per
stage, the functions that took the most samples of py-spy (a sampling profiler that sees every
thread and process; not a project dependency: `pip install py-spy`) over the node functions, and
keeps py-spy's raw stacks in benchmarks/results/profile_<stage>.txt.
"""

import argparse
import collections
import contextlib
import datetime
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pandas as pd
import psutil

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "data_pipeline.md"
STAGES = ("ingest", "preprocess")
NODE_TIME = re.compile(r"node seconds: ([\d.]+)")
# Kedro's log with millisecond times (LOGGING below): a node runs from "Running node" to
# "Completed node" (the function, saving its outputs and the hooks around the saves).
NODE_LOG = re.compile(r"^(\S+ \S+) - \S+ - INFO - (Running|Completed) node: ", re.MULTILINE)
LOGGING = """\
version: 1
disable_existing_loggers: False
formatters:
  simple:
    format: "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
handlers:
  console:
    class: logging.StreamHandler
    level: INFO
    formatter: simple
    stream: ext://sys.stdout
loggers:
  kedro:
    level: INFO
root:
  handlers: [console]
"""
PIPELINE_TIME = re.compile(
    r"Pipeline execution completed.*?successfully in ([\d.]+) sec", re.DOTALL
)
MIB = 1024 * 1024
MODES = {"nodes": "node functions", "kedro": "`kedro run`", "dvc": "`dvc repro`"}


def copy_project(destination: Path, source: Path, neither_source: Path | None = None) -> Path:
    """The project's code and configuration, reading the photos from `source` and the photos of
    other things from `neither_source` (None: the parameters' local copies)."""
    for folder in ("conf", "src"):
        shutil.copytree(
            PROJECT_ROOT / folder,
            destination / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "local"),
        )
    (destination / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry", "dvc.yaml", ".dvcignore"):
        shutil.copy(PROJECT_ROOT / name, destination)
    # The source the stages read, for `kedro run` and for the dependency `dvc repro` hashes.
    parameters = destination / "conf" / "base" / "parameters_ingest.yml"
    text = re.sub(r"(?m)^(\s+source:).*$", rf"\1 {source}", parameters.read_text())
    # the local copies of the photos of other things (ingested too), from the copy's place
    text = text.replace("../shared/", f"{PROJECT_ROOT.parent / 'shared'}/")
    if neither_source is not None:
        text = re.sub(r"(?m)^(\s+neither_source:).*$", rf"\1 {neither_source}", text)
    parameters.write_text(text)
    (destination / "logging.yml").write_text(LOGGING)
    return destination


def environment(project: Path) -> dict[str, str]:
    variables = os.environ | {
        "MLFLOW_TRACKING_URI": f"sqlite:///{project}/mlflow.db",
        "COLUMNS": "200",  # keeps Kedro's log lines whole for PIPELINE_TIME
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TQDM_DISABLE": "1",
        "KEDRO_LOGGING_CONFIG": str(project / "logging.yml"),
    }
    variables.pop("PYTHONDONTWRITEBYTECODE", None)  # users' machines cache byte code
    return variables


def run_command(project: Path, command: list[str]) -> dict[str, float]:
    """Run one command, sampling the memory and CPU time of its whole process tree."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=project,
        env=environment(project),
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
    functions = NODE_TIME.search(output)
    pipeline = functions or PIPELINE_TIME.search(output)
    return {
        "wall_s": wall,
        "nodes_s": float(functions.group(1)) if functions else logged_node_seconds(output),
        "pipeline_s": float(pipeline.group(1)) if pipeline else float("nan"),
        "main_rss_mib": usage.ru_maxrss / 1024,
        "tree_rss_mib": peak_tree[0] / MIB,
        "cpu_s": sum(cpu_by_pid.values()),
    }


def logged_node_seconds(output: str) -> float:
    """The seconds between each "Running node" and the following "Completed node" in the log."""
    seconds, started = 0.0, None
    for stamp, event in NODE_LOG.findall(output):
        moment = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if event == "Running":
            started = moment
        elif started is not None:
            seconds, started = seconds + moment - started, None
    return seconds


def sample_tree(pid: int, peak: list[int], cpu_by_pid: dict[int, float]) -> None:
    """Record the peak summed RSS and the CPU seconds (user + system) of the process tree."""
    try:
        main = psutil.Process(pid)
        while main.is_running() and main.status() != psutil.STATUS_ZOMBIE:
            total = 0
            for process in [main, *main.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a child may exit meanwhile
                    total += process.memory_info().rss
                    times = process.cpu_times()
                    cpu_by_pid[process.pid] = times.user + times.system
            peak[0] = max(peak[0], total)
            time.sleep(0.02)
    except psutil.Error:
        return


def run_nodes(stage: str, source: Path) -> None:
    """One stage's nodes and datasets without Kedro, with the project's parameters and files."""
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415 - only in this child process
    from kedro.io import DataCatalog  # noqa: PLC0415

    from cat_dog_classifier.pipelines.fetch import nodes as fetch  # noqa: PLC0415
    from cat_dog_classifier.pipelines.ingest import nodes as ingest  # noqa: PLC0415
    from cat_dog_classifier.pipelines.preprocess import nodes as preprocess  # noqa: PLC0415
    from cat_dog_classifier.pipelines.preprocess.pipeline import (  # noqa: PLC0415
        PREPROCESSED_SETS,
    )

    config = OmegaConfigLoader("conf", base_env="base", default_run_env="local")
    params = config["parameters"]
    catalog = DataCatalog.from_config(config["catalog"])
    start = time.perf_counter()
    if stage == "ingest":
        settings = params["ingest"]
        neither = fetch.fetch_neither_source(  # resolving a path: not measured by the stages either
            settings["neither_source"],
            settings["neither_local_copies"],
            settings["no_neither_photos"],
        )
        start = time.perf_counter()
        manifest = ingest.reject_duplicates(
            ingest.inspect_images(str(source), settings),
            ingest.inspect_neither_images(neither, settings),
        )
        catalog.save("image_manifest", manifest)
        catalog.save("ingestion_report", ingest.summarise_ingestion(manifest))
    else:
        splits = preprocess.split_images(
            catalog.load("image_manifest"),
            params["preprocess"]["split"],
            params["preprocess"]["neither_split"],
        )
        catalog.save("image_splits", splits)
        sets = preprocess.preprocess_images(
            splits,
            params["preprocess"]["jpeg_dct_scaling"],
            params["preprocess"]["workers"],
            **{name: params[name]["image"] for name in PREPROCESSED_SETS},
        )
        for name in PREPROCESSED_SETS:  # in the pipeline's output order, as Kedro saves them
            catalog.save(f"{name}.model_input", sets[name])
    print(f"node seconds: {time.perf_counter() - start:.2f}")


def commands(mode: str, stage: str, source: Path) -> list[str]:
    if mode == "nodes":
        return [sys.executable, __file__, "--source", str(source), "--nodes-of", stage]
    if mode == "kedro":
        return ["kedro", "run", "--pipelines", stage]
    return ["dvc", "repro", "--single-item", stage]


def link_photos(project: Path, mode: str) -> None:
    """Unmeasured, as its own stage: resolve `ingest.source` and link it at
    data/01_raw/image_source, which the stages read (the node functions read the zip directly)."""
    if mode == "kedro":
        run_command(project, ["kedro", "run", "--pipelines", "fetch"])
    elif mode == "dvc":
        run_command(project, ["dvc", "repro", "fetch"])  # and `config`, which it depends on


def warm_up(project: Path, mode: str) -> None:
    """Compile and cache the byte code of every module the mode's commands import, on a tiny
    source, so that no measured command pays for it; then start from no outputs."""
    samples = project / "warm-up.zip"
    with zipfile.ZipFile(samples, "w") as archive:
        for label, photo in (("Cat", "cat/kitten.jpeg"), ("Dog", "dog/dog.jpeg")):
            archive.write(PROJECT_ROOT.parent / "shared" / "samples" / photo, f"{label}/1.jpg")
    parameters = project / "conf" / "base" / "parameters_ingest.yml"
    real = parameters.read_text()
    parameters.write_text(re.sub(r"(?m)^(\s+source:).*$", rf"\1 {samples}", real))
    try:
        link_photos(project, mode)
        for stage in STAGES:
            run_command(project, commands(mode, stage, samples))
    finally:
        parameters.write_text(real)
    shutil.rmtree(project / "data", ignore_errors=True)
    shutil.rmtree(project / ".dvc" / "cache", ignore_errors=True)
    (project / "dvc.lock").unlink(missing_ok=True)
    link_photos(project, mode)


def run_mode(
    mode: str, source: Path, dvc_cache_type: str | None = None
) -> tuple[dict[str, dict[str, float]], pd.DataFrame, str]:
    with tempfile.TemporaryDirectory(prefix="benchmark-data-") as scratch:
        project = copy_project(Path(scratch), source)
        if mode == "dvc":
            setup = [["init", "--no-scm"], ["config", "core.analytics", "false"]]
            if dvc_cache_type:
                setup.append(["config", "cache.type", dvc_cache_type])
            for command in setup:
                subprocess.run(
                    ["dvc", *command, "--quiet"], cwd=project, env=environment(project), check=True
                )
        warm_up(project, mode)
        before = load()
        results = {}
        for stage in STAGES:
            print(f"{MODES[mode]}: {stage} ...", flush=True)
            results[stage] = run_command(project, commands(mode, stage, source))
        manifest = pd.read_parquet(project / "data/02_intermediate/image_manifest.parquet")
        return results, manifest, f"{before} before, {load()} after"


def profile_stages(source: Path, top: int) -> list[str]:
    """py-spy's samples over each stage's node functions: the functions that took the most,
    by own time (their callees excluded), as a share of all samples of every thread."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        sys.exit("--profile needs py-spy on the PATH: pip install py-spy")
    lines = [
        "",
        f"## Profile: the {top} functions with the most own time per stage (node functions)",
        "",
        "py-spy, 200 samples/s per thread, every thread and process; share of all samples.",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="benchmark-profile-") as scratch:
        project = copy_project(Path(scratch), source)
        warm_up(project, "nodes")
        for stage in STAGES:
            print(f"profile: {stage} ...", flush=True)
            samples = RESULTS.with_name(f"profile_{stage}.txt")  # py-spy's raw stacks, kept
            command = [py_spy, "record", "--threads", "--subprocesses", "--rate", "200"]
            command += ["--format", "raw", "--output", str(samples), "--"]
            run_command(project, command + commands("nodes", stage, source))
            shares = own_time_shares(samples.read_text())
            lines += ["", f"| {stage}: function (file) | share of samples |", "| --- | ---: |"]
            lines += [f"| `{name}` | {share:.1%} |" for name, share in shares[:top]]
    return lines


def own_time_shares(raw: str) -> list[tuple[str, float]]:
    """(function (file), share of all samples) from py-spy's raw output, largest first."""
    own: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [
            frame for frame in stack.split(";") if not frame.startswith(("process ", "thread "))
        ]
        leaf = frames[-1] if frames else "(no Python frame)"
        leaf = re.sub(r" \((?:.*/(?:site-packages|python3\.\d+|src)/)?(.*?):\d+\)$", r" (\1)", leaf)
        own[leaf] += int(count)
    total = sum(own.values())
    return [(name, count / total) for name, count in own.most_common()]


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    if model:
        cpu = model.group(1)
    memory = psutil.virtual_memory().total / 1024**3
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory:.0f} GiB RAM, Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=PROJECT_ROOT.parent / "shared" / "data" / "kagglecatsanddogs_180px.zip",
    )
    parser.add_argument("--modes", default=",".join(MODES), help="of: nodes, kedro, dvc")
    parser.add_argument("--profile", action="store_true", help="add py-spy's top functions")
    parser.add_argument(
        "--dvc-cache-type",
        help="DVC's cache.type for the dvc mode (e.g. hardlink; default: DVC's own, reflink,copy)",
    )
    parser.add_argument("--nodes-of", choices=STAGES, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    source = arguments.source.resolve()
    if arguments.nodes_of:
        run_nodes(arguments.nodes_of, source)
        return

    lines = [
        "# Data pipeline benchmark",
        "",
        f"Source: `{source}`. Machine: {machine()}. Started {time.strftime('%Y-%m-%d %H:%M')}.",
    ]
    modes = [mode for mode in arguments.modes.split(",") if mode]
    if modes:
        lines += throughput_table(modes, source, arguments.dvc_cache_type)
    if arguments.profile:
        lines += profile_stages(source, top=12)
    table = "\n".join(lines) + "\n"
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table)


def throughput_table(
    modes: list[str], source: Path, dvc_cache_type: str | None = None
) -> list[str]:
    results, loads = {}, {}
    for mode in modes:
        results[mode], manifest, loads[mode] = run_mode(mode, source, dvc_cache_type)
    files, images = len(manifest), int((manifest["status"] == "ok").sum())
    counts = {"ingest": files, "preprocess": images}
    lines = [
        "",
        f"{files} files, {images} usable images. Command: "
        f"`{shlex.join(['python', 'benchmarks/data_pipeline.py', *sys.argv[1:]])}`. "
        "Load average (1/5/15 min): "
        + "; ".join(f"{MODES[mode]} {value}" for mode, value in loads.items())
        + ".",
        "",
        "| mode | stage | wall (s) | nodes (s) | Kedro pipeline (s) | wall - nodes (s) "
        "| images/s, nodes | images/s, wall | CPU (s) | peak RSS main (MiB) "
        "| peak RSS main + children (MiB) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode, stages in results.items():
        rows = [*stages.items(), ("**both**", _total(stages))]
        for stage, result in rows:
            count = counts.get(stage, images)
            pipeline = "-" if mode == "nodes" else f"{result['pipeline_s']:.1f}"
            lines.append(
                f"| {MODES[mode]} | {stage} | {result['wall_s']:.1f} | {result['nodes_s']:.1f} "
                f"| {pipeline} | {result['wall_s'] - result['nodes_s']:.1f} "
                f"| {count / result['nodes_s']:,.0f} | {count / result['wall_s']:,.0f} "
                f"| {result['cpu_s']:.1f} "
                f"| {result['main_rss_mib']:,.0f} | {result['tree_rss_mib']:,.0f} |"
            )
    return [
        *lines,
        "",
        "nodes: the node functions, saving their outputs included (from Kedro's log for `kedro "
        "run` and `dvc repro`); Kedro pipeline: what Kedro reports (nodes, loading, hooks); "
        "wall - nodes: start-up, hooks and, for `dvc repro`, DVC's own work (hashing, caching). "
        "images/s: files checked for ingest, usable images (both sets) for preprocess; "
        "**both**: usable images over the two stages' time.",
    ]


def _total(stages: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        "wall_s": sum(result["wall_s"] for result in stages.values()),
        "nodes_s": sum(result["nodes_s"] for result in stages.values()),
        "pipeline_s": sum(result["pipeline_s"] for result in stages.values()),
        "cpu_s": sum(result["cpu_s"] for result in stages.values()),
        "main_rss_mib": max(result["main_rss_mib"] for result in stages.values()),
        "tree_rss_mib": max(result["tree_rss_mib"] for result in stages.values()),
    }


if __name__ == "__main__":
    main()
