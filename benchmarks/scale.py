"""How time and memory grow with the photos: ingest, preprocess and one epoch per variant at k times
the photos.

    python benchmarks/scale.py                        # 1, 2 and 4 times the shared photos
    python benchmarks/scale.py --scales 1 2 --variants cnn --limit 2000   # a quick look
    python benchmarks/scale.py --work-dir /big/disk   # keeps the k-times sources for a rerun

For each scale k, a photo source with k times the photos of `--source` (a .zip or a folder in a
layout ingestion understands; by default the shared 180 px PetImages copy): each photo as it is, and
k - 1 copies of it, copy j mirrored when j is odd and cropped by 2% * ceil(j / 2) of each side, then
scaled back to its size, re-encoded as JPEG, under `copy<j>/` beside the original path (same label,
same layout). No copy has the bytes of another file, so ingestion, which rejects files of identical
bytes, keeps each (photos duplicated in the source stay duplicated, k times over).
The sources of every scale are written in one pass, into `<work dir>/sources/`, and reused by a
later run with the same `--work-dir`.

Then, per scale, in a fresh clone of this checkout's HEAD beside a link to ../shared (so that it
finds the photos of other things and the backbone weights this checkout finds; commit first), with
its own MLflow store and `ingest.source` set in the clone's conf/local, the stages as a user runs
them, each `kedro run` in its own process (the `fetch` that links the photos first, not measured):
  kedro run --pipelines ingest
  kedro run --pipelines preprocess
  kedro run --pipelines train --namespaces <variant> --params variants.<variant>.training.epochs=1
(`transfer`: one epoch of the head on the backbone features, which it computes first, and one of
fine-tuning.) Each command's process tree is sampled every 50 ms: its resident memory (RSS, the
figure `/usr/bin/time -v` reports, which counts the pages of memory-mapped files a process has
read) and its anonymous memory (RSS without file pages: what the kernel cannot drop under
pressure); the kernel's own peak RSS of the largest process (wait4) is kept where it is higher.

Prints a table (stage by scale: seconds, peak RSS and anonymous memory, each as a ratio to the
smallest scale), which stages' memory grows with the photos and by how much, whether the goal holds
at the largest scale (peak within 8 GB, time within 1.1 * k times the smallest scale's: issue 32's
"4x the photos within 8 GB peak and time within 4.4x of 1x"), and how many photos this machine's
memory and disk would hold at the measured growth. Written to benchmarks/results/scale.md.
The clones (with their data/: 110 kB of model input per photo) are removed after each scale unless
`--keep`.
"""

import argparse
import contextlib
import hashlib
import io
import json
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import psutil
from PIL import Image, ImageOps, JpegImagePlugin

from cat_dog_classifier.config import base_config, variants
from cat_dog_classifier.image_source import ImageSource, map_batches
from cat_dog_classifier.pipelines.train.pipeline import initial_model

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "scale.md"
DEFAULT_SOURCE = PROJECT_ROOT.parent / "shared" / "data" / "kagglecatsanddogs_180px.zip"
KEDRO = str(Path(sys.executable).parent / "kedro")
CROP_PER_STEP = 0.02  # of each side, per pair of copies
JPEG_QUALITY = 90
SOURCE_FORMAT = 2  # bump when the copies change: sources built before are then rebuilt
SAMPLE_SECONDS = 0.05
GOAL_BYTES = 8e9  # issue 32: "4x the photos within 8 GB peak"
GOAL_TIME_PER_SCALE = 1.1  # "time within 4.4x of 1x" at 4x
GROWS = 1.25  # a peak this many times the smallest scale's (and 64 MiB more) grows with the photos
MIB, GB = 2**20, 1e9


def changed_copy(data: bytes, copy: int) -> bytes:
    """Copy `copy` (1, 2, ...) of a photo: mirrored when odd, cropped by CROP_PER_STEP * ceil(copy
    / 2) of each side and scaled back to the photo's size, upright (EXIF applied), as a JPEG with
    the photo's own quantisation tables and chroma subsampling where it is a JPEG (so about as many
    bytes), else at JPEG_QUALITY."""
    with Image.open(io.BytesIO(data)) as opened:
        encoding: dict = {"quality": JPEG_QUALITY}
        if opened.format == "JPEG" and opened.mode in ("L", "RGB"):
            encoding = {
                "qtables": opened.quantization,
                "subsampling": JpegImagePlugin.get_sampling(opened),
            }
        image = ImageOps.exif_transpose(opened)
        image = image.convert("L" if image.mode == "L" else "RGB")
    width, height = image.size
    step = (copy + 1) // 2
    dx = max(1, round(width * CROP_PER_STEP * step))
    dy = max(1, round(height * CROP_PER_STEP * step))
    image = image.crop((dx, dy, width - dx, height - dy)).resize(
        (width, height), Image.Resampling.LANCZOS
    )
    if copy % 2:
        image = ImageOps.mirror(image)
    encoded = io.BytesIO()
    image.save(encoded, "JPEG", **encoding)
    return encoded.getvalue()


def copy_path(path: str, copy: int) -> str:
    """Where copy `copy` of the file `path` goes: beside it under `copy<j>/`, so that its layout
    (a class folder at any depth, Oxford-IIIT's images/) labels it as the original."""
    return path if copy == 0 else f"copy{copy}/{path}"


def first_photos(paths: Sequence[str], limit: int | None) -> list[str]:
    """The first `limit` files (all when None), taken in turn from each folder (so both classes
    are there), each folder in natural order (2.jpg before 10.jpg); in path order."""
    if limit is None:
        return sorted(paths)
    folders: dict[str, list[str]] = {}
    for path in paths:
        folders.setdefault(path.rpartition("/")[0], []).append(path)

    def natural(path: str) -> list:
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]

    queues = [sorted(files, key=natural) for _, files in sorted(folders.items())]
    chosen: list[str] = []
    for rank in range(max(map(len, queues), default=0)):
        chosen += [queue[rank] for queue in queues if rank < len(queue)]
    return sorted(chosen[:limit])


def _copies(count: int, source: ImageSource, paths: Sequence[str]) -> list[tuple[str, list]]:
    """Each file's bytes and its `count - 1` changed copies (None where Pillow cannot read it)."""
    made = []
    for path in paths:
        data = source.read(path)
        try:
            copies = [data, *(changed_copy(data, copy) for copy in range(1, count))]
        except (OSError, ValueError, Image.DecompressionBombError):
            copies = [data, *[None] * (count - 1)]
        made.append((path, copies))
    return made


def build_sources(
    source: Path, scales: Sequence[int], folder: Path, limit: int | None = None
) -> dict[int, Path]:
    """A .zip per scale k in `folder`, with the first `limit` files of `source` (all when None)
    and their copies 1 to k - 1; written in one pass (each copy encoded once), with a progress
    bar, and reused when a zip of the same source, limit and copies is there already. A file
    Pillow cannot read (not an image, corrupt) is put in each zip once, as it is: ingestion rejects
    it with its reason at every scale."""
    folder.mkdir(parents=True, exist_ok=True)
    stat = source.stat()
    key = f"{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{limit}:{SOURCE_FORMAT}"
    tag = hashlib.sha256(key.encode()).hexdigest()[:10]
    name = f"{source.stem}{f'_first{limit}' if limit else ''}_{tag}"
    targets = {k: folder / f"{name}_x{k}.zip" for k in sorted(set(scales))}
    missing = {k: path for k, path in targets.items() if not path.is_file()}
    if not missing:
        return targets
    with ImageSource(source) as photos, contextlib.ExitStack() as stack:
        paths = first_photos(photos.list_files(), limit)
        archives = {
            k: stack.enter_context(zipfile.ZipFile(f"{path}.part", "w", zipfile.ZIP_STORED))
            for k, path in missing.items()
        }
        unreadable = 0
        batches = map_batches(
            photos,
            paths,
            partial(_copies, max(missing)),
            description=f"photos x{', x'.join(map(str, missing))}",
        )
        for batch in batches:
            for path, copies in batch:
                unreadable += copies[-1] is None and len(copies) > 1
                for k, archive in archives.items():
                    for copy, data in enumerate(copies[:k]):
                        if data is not None:
                            archive.writestr(_member(copy_path(path, copy)), data)
    for path in missing.values():
        Path(f"{path}.part").replace(path)
    if unreadable:
        print(f"{unreadable} of {len(paths)} files not readable as images: copied once")
    return targets


def _member(path: str) -> zipfile.ZipInfo:
    return zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))


@dataclass
class Measurement:
    stage: str
    scale: int
    photos: int = 0  # usable photos of the scale (pets and photos of other things)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss: int = 0  # bytes: the larger of the sampled tree's and the kernel's largest process
    peak_anonymous: int = 0  # bytes: the sampled tree's RSS without file-backed pages
    written: int = 0  # bytes the stage added to the clone's data/
    command: list[str] = field(default_factory=list)


def sample_tree(pid: int, peaks: dict[str, float], stop: threading.Event) -> None:
    """Peak summed RSS and anonymous RSS, and the CPU seconds, of the process tree under `pid`."""
    cpu_by_pid: dict[int, float] = {}
    with contextlib.suppress(psutil.Error):
        main = psutil.Process(pid)
        while not stop.is_set():
            rss = anonymous = 0
            for process in [main, *main.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a child may exit meanwhile
                    memory = process.memory_info()
                    rss += memory.rss
                    anonymous += memory.rss - memory.shared  # statm: shared = file + shmem pages
                    times = process.cpu_times()
                    cpu_by_pid[process.pid] = times.user + times.system
            peaks["rss"] = max(peaks["rss"], rss)
            peaks["anonymous"] = max(peaks["anonymous"], anonymous)
            peaks["cpu"] = sum(cpu_by_pid.values())
            stop.wait(SAMPLE_SECONDS)


def run_measured(command: list[str], project: Path, log: Path) -> dict[str, float]:
    """Run `command` in `project`, its output to `log`; wall time, CPU and peak memory."""
    peaks = {"rss": 0.0, "anonymous": 0.0, "cpu": 0.0}
    stop = threading.Event()
    with log.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=project, env=environment(project), stdout=output, stderr=subprocess.STDOUT
        )
        sampler = threading.Thread(target=sample_tree, args=(process.pid, peaks, stop))
        sampler.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            stop.set()
            sampler.join()
        wall = time.perf_counter() - started
    process.returncode = code = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if code:
        tail = log.read_text()[-4000:]
        raise SystemExit(f"{shlex.join(command)} failed ({code}) in {project}:\n{tail}")
    cpu = max(peaks["cpu"], usage.ru_utime + usage.ru_stime)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss": max(peaks["rss"], usage.ru_maxrss * 1024),  # ru_maxrss: KiB on Linux
        "peak_anonymous": peaks["anonymous"],
    }


def environment(project: Path) -> dict[str, str]:
    """A user's shell in the clone: this environment's tools, byte code written, its own store."""
    variables = {
        key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"
    }
    return variables | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "TQDM_DISABLE": "1",
    }


def clone_beside_shared(folder: Path) -> Path:
    """This checkout's HEAD cloned into `folder`, beside a link to ../shared, as verify.py does."""
    folder.mkdir(parents=True)
    clone = folder / PROJECT_ROOT.name
    subprocess.run(["git", "clone", "-q", str(PROJECT_ROOT), str(clone)], check=True)
    shared = PROJECT_ROOT.parent / "shared"
    if shared.exists():
        (folder / "shared").symlink_to(shared.resolve())
    return clone


def stage_commands(selected: Sequence[str], fine_tune_epochs: int) -> list[tuple[str, list[str]]]:
    """(stage, command) for ingest, preprocess and one epoch of each selected variant."""
    run = [KEDRO, "run", "--pipelines"]
    stages = [("ingest", [*run, "ingest"]), ("preprocess", [*run, "preprocess"])]
    for variant in selected:
        params = [f"variants.{variant}.training.epochs=1"]
        if variants(PROJECT_ROOT)[variant]["model"]["architecture"] == "transfer":
            params.append(f"variants.{variant}.training.fine_tune.epochs={fine_tune_epochs}")
        stages.append(
            (
                f"train@{variant}",
                [*run, "train", "--namespaces", variant, "--params", ",".join(params)],
            )
        )
    return stages


def check_variants(selected: Sequence[str]) -> None:
    """Each variant that starts from another's trained model needs that one trained before it."""
    blocks = variants(PROJECT_ROOT)
    catalog = base_config("catalog", PROJECT_ROOT)
    for position, name in enumerate(selected):
        if name not in blocks:
            raise SystemExit(f"Unknown variant {name!r}: one of {', '.join(blocks)}")
        source = initial_model(name, blocks[name], catalog, blocks)
        needed = source.split(".")[0] if source else None
        if needed and needed not in selected[:position]:
            raise SystemExit(
                f"{name} starts from {needed}'s trained model: "
                f"list {needed} before it in --variants"
            )


def data_size(project: Path) -> int:
    """Bytes of the clone's data/ (links not followed: the photos are linked, not copied)."""
    return sum(
        (Path(root) / name).lstat().st_size
        for root, _, names in os.walk(project / "data")
        for name in names
    )


def measure_scale(
    scale: int,
    source: Path,
    folder: Path,
    *,
    selected: Sequence[str],
    fine_tune_epochs: int,
    neither: bool = True,
) -> tuple[list[Measurement], dict]:
    """Every stage at one scale, in a fresh clone in `folder`; the measurements and ingestion's
    report."""
    clone = clone_beside_shared(folder)
    logs = folder / "logs"
    logs.mkdir()
    settings = f"# benchmarks/scale.py: the photos at {scale}x\ningest:\n  source: {source}\n"
    if not neither:
        settings += "  neither_source: null\n"
    (clone / "conf" / "local" / "parameters_scale.yml").write_text(settings)
    # Not measured: links the photos, creates the MLflow store and compiles the project's byte code.
    run_measured([KEDRO, "run", "--pipelines", "fetch"], clone, logs / "fetch.log")
    measurements, report = [], {}
    for stage, command in stage_commands(selected, fine_tune_epochs):
        print(f"{scale}x: {stage} ...", flush=True)
        before = data_size(clone)
        figures = run_measured(command, clone, logs / f"{stage.replace('@', '_')}.log")
        written = data_size(clone) - before
        if stage == "ingest":
            report = json.loads((clone / "data/08_reporting/ingestion_report.json").read_text())
        shown = ["kedro", *command[1:]]
        measurements.append(
            Measurement(
                stage, scale, report.get("usable", 0), written=written, command=shown, **figures
            )
        )
    return measurements, report


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def table(measurements: Sequence[Measurement]) -> str:
    """Stage by scale: seconds, peak RSS and anonymous memory, each with its ratio to the smallest
    scale of the same stage."""
    smallest = {}
    for m in sorted(measurements, key=lambda m: m.scale):
        smallest.setdefault(m.stage, m)
    lines = [
        "| stage | scale | photos | wall (s) | / smallest | CPU (s) | peak RSS (GB) | / smallest "
        "| peak anonymous (GB) | / smallest | written (GB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in measurements:
        base = smallest[m.stage]
        lines.append(
            f"| {m.stage} | {m.scale}x | {m.photos:,} | {m.wall_s:.1f} "
            f"| {ratio(m.wall_s, base.wall_s)} "
            f"| {m.cpu_s:.1f} | {m.peak_rss / GB:.2f} | {ratio(m.peak_rss, base.peak_rss)} "
            f"| {m.peak_anonymous / GB:.2f} | {ratio(m.peak_anonymous, base.peak_anonymous)} "
            f"| {m.written / GB:.2f} |"
        )
    return "\n".join(lines)


def grows(before: float, after: float) -> bool:
    """Whether a peak grew with the photos: GROWS times the smallest scale's and 64 MiB more."""
    return after >= GROWS * before and after - before >= 64 * MIB


def growth(measurements: Sequence[Measurement]) -> list[dict]:
    """Per stage, from its smallest to its largest scale: MiB more per 10,000 photos (RSS and
    anonymous) and whether its memory grows with the photos."""
    stages: dict[str, list[Measurement]] = {}
    for m in measurements:
        stages.setdefault(m.stage, []).append(m)
    found = []
    for stage, runs in stages.items():
        low, high = min(runs, key=lambda m: m.scale), max(runs, key=lambda m: m.scale)
        photos = high.photos - low.photos
        slopes = {
            kind: (getattr(high, kind) - getattr(low, kind)) / photos if photos > 0 else 0.0
            for kind in ("peak_rss", "peak_anonymous")
        }

        if photos > 0 and grows(low.peak_anonymous, high.peak_anonymous):
            verdict = "grows with the photos"
        elif photos > 0 and grows(low.peak_rss, high.peak_rss):
            verdict = "file pages only grow (memory-mapped files read; the kernel can drop them)"
        else:
            verdict = "flat: bounded by the batch, not the photos"
        found.append(
            {"stage": stage, "low": low, "high": high, "slopes": slopes, "verdict": verdict}
        )
    return found


def growth_table(found: Sequence[dict]) -> str:
    lines = [
        "| stage | scales | RSS per 10,000 photos (MiB) | anonymous per 10,000 photos (MiB) "
        "| memory |",
        "|---|---|---:|---:|---|",
    ]
    for row in found:
        slopes = {kind: slope * 10_000 / MIB for kind, slope in row["slopes"].items()}
        lines.append(
            f"| {row['stage']} | {row['low'].scale}x → {row['high'].scale}x "
            f"| {slopes['peak_rss']:+,.0f} | {slopes['peak_anonymous']:+,.0f} | {row['verdict']} |"
        )
    return "\n".join(lines)


def goal(measurements: Sequence[Measurement]) -> list[str]:
    """Whether the largest scale keeps within GOAL_BYTES of peak RSS, and each stage (and all of
    them) within GOAL_TIME_PER_SCALE * k times the smallest scale's time."""
    scales = sorted({m.scale for m in measurements})
    if len(scales) < 2:
        return ["One scale only: no goal to check."]
    low, high = scales[0], scales[-1]
    factor = GOAL_TIME_PER_SCALE * high / low
    at = {(m.stage, m.scale): m for m in measurements}
    top = max((m for m in measurements if m.scale == high), key=lambda m: m.peak_rss)
    memory_ok = top.peak_rss <= GOAL_BYTES
    anonymous = max(m.peak_anonymous for m in measurements if m.scale == high)
    slow = [
        f"{stage} {at[stage, high].wall_s / at[stage, low].wall_s:.2f}x"
        for stage in dict.fromkeys(m.stage for m in measurements)
        if at[stage, high].wall_s > factor * at[stage, low].wall_s
    ]
    total = {k: sum(m.wall_s for m in measurements if m.scale == k) for k in (low, high)}
    time_ok = total[high] <= factor * total[low]
    lines = [
        f"- Memory at {high}x: the largest peak RSS is {top.stage}'s, {top.peak_rss / GB:.2f} GB "
        f"(anonymous {top.peak_anonymous / GB:.2f} GB): "
        f"**{'within' if memory_ok else 'over'} the {GOAL_BYTES / GB:.0f} GB goal**"
        + (
            "; every stage's anonymous memory is within it: the rest are pages of memory-mapped "
            "files, which the kernel drops under pressure."
            if not memory_ok and anonymous <= GOAL_BYTES
            else "."
        ),
        f"- Time at {high}x: all stages {total[high]:.0f} s, {total[high] / total[low]:.2f}x the "
        f"{low}x's {total[low]:.0f} s: **{'within' if time_ok else 'over'} the goal of "
        f"{factor:.1f}x**"
        + (f"; stages over it: {', '.join(slow)}." if slow else "; every stage within it."),
    ]
    if high != 4 * low:
        lines.append(f"- (Issue 32's goal is stated for 4x; measured here at {high}x.)")
    return lines


def capacity(measurements: Sequence[Measurement], found: Sequence[dict], free_disk: int) -> str:
    """How many photos this machine's memory and disk would hold at the measured growth."""
    memory = psutil.virtual_memory().total
    limits = []
    for row in found:
        slope, high = row["slopes"]["peak_anonymous"], row["high"]
        if row["verdict"] == "grows with the photos" and slope > 0:
            limits.append((high.photos + (memory - high.peak_anonymous) / slope, row["stage"]))
    largest = max(m.scale for m in measurements)
    at_largest = [m for m in measurements if m.scale == largest]
    photos = max(m.photos for m in at_largest)
    per_photo = sum(m.written for m in at_largest) / photos if photos else 0
    if len({m.scale for m in measurements}) < 2:
        said = "One scale only: no growth measured."
    else:
        said = (
            f"At the measured growth, anonymous memory reaches this machine's "
            f"{memory / 2**30:.0f} GiB first in {min(limits)[1]}, at about "
            f"{min(limits)[0]:,.0f} photos."
            if limits
            else "No stage's anonymous memory grows measurably with the photos: memory does not "
            "bound the set."
        )
    if per_photo:
        said += (
            f" The stages write {per_photo / 1e3:,.0f} kB per photo into data/ (the model inputs, "
            f"above all): the {free_disk / GB:,.0f} GB free beside the work folder hold about "
            f"{free_disk / per_photo:,.0f} photos' worth."
        )
    return said


def machine() -> str:
    model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    cpu = model.group(1) if model else platform.processor() or platform.machine()
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {memory:.0f} GiB RAM, Python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.1f} at start"
    )


def report(
    measurements: Sequence[Measurement],
    reports: dict[int, dict],
    arguments: argparse.Namespace,
    started: str,
    free_disk: int,
) -> str:
    found = growth(measurements)
    commands = dict.fromkeys(shlex.join(m.command) for m in measurements)
    sources = [
        f"{k}x: {r['files']:,} files, {r['usable']:,} usable, "
        f"{r['rejections'].get('duplicate', 0):,} rejected as duplicates"
        for k, r in sorted(reports.items())
    ]
    return "\n".join(
        [
            f"# Time and memory against the number of photos ({started})",
            "",
            f"Command: `{shlex.join(['python', 'benchmarks/scale.py', *arguments.argv])}`. "
            f"Machine: {machine()}. Commit {commit()}.",
            "",
            f"Photos: `{arguments.source}`"
            + (f", its first {arguments.limit:,}" if arguments.limit else "")
            + ", with its copies (ingestion's report: "
            + "; ".join(sources)
            + "). "
            + (
                "No photos of other things (`--no-neither`)."
                if arguments.no_neither
                else "Usable photos include the photos of other things, which are not copied."
            ),
            "",
            table(measurements),
            "",
            "Each stage is one command in its own process, in a fresh clone per scale: "
            + ", ".join(f"`{command}`" for command in commands)
            + ". Peak RSS: what `/usr/bin/time -v` reports (file pages of memory-mapped sets "
            "included); anonymous: without file pages. Written: what the stage added to data/.",
            "",
            "## Which memory grows with the photos",
            "",
            growth_table(found)
            if len({m.scale for m in measurements}) > 1
            else "One scale only: nothing to compare.",
            "",
            "## The goal",
            "",
            *goal(measurements),
            "",
            capacity(measurements, found, free_disk),
            "",
        ]
    )


def commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="a .zip or a folder")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument(
        "--variants", nargs="+", help="in order (default: every variant of parameters_train.yml)"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="where the sources (kept, reused) and the clones go (default: a temporary folder)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the clones (and their data/)")
    parser.add_argument("--limit", type=int, help="only the first N photos of the source")
    parser.add_argument(
        "--fine-tune-epochs", type=int, default=1, help="transfer's fine-tuning epochs (default 1)"
    )
    parser.add_argument(
        "--no-neither",
        action="store_true",
        help="without the photos of other things (ingest.neither_source: null; no third answer)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="the table's Markdown file")
    arguments = parser.parse_args(argv)
    arguments.argv = list(sys.argv[1:] if argv is None else argv)
    if not arguments.source.exists():
        parser.error(f"--source {arguments.source} does not exist")
    if min(arguments.scales) < 1:
        parser.error("--scales are whole numbers from 1")
    arguments.source = arguments.source.resolve()
    arguments.scales = sorted(set(arguments.scales))
    arguments.variants = arguments.variants or list(variants(PROJECT_ROOT))
    return arguments


def main(argv: Sequence[str] | None = None) -> list[Measurement]:
    arguments = parse(argv)
    check_variants(arguments.variants)
    started = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    work = arguments.work_dir or Path(tempfile.mkdtemp(prefix="scale-"))
    work.mkdir(parents=True, exist_ok=True)
    measurements: list[Measurement] = []
    reports: dict[int, dict] = {}
    try:
        sources = build_sources(
            arguments.source, arguments.scales, work / "sources", arguments.limit
        )
        for scale in arguments.scales:
            folder = work / f"x{scale}"
            shutil.rmtree(folder, ignore_errors=True)
            found, reports[scale] = measure_scale(
                scale,
                sources[scale],
                folder,
                selected=arguments.variants,
                fine_tune_epochs=arguments.fine_tune_epochs,
                neither=not arguments.no_neither,
            )
            measurements += found
            if not arguments.keep:
                shutil.rmtree(folder)
        free_disk = shutil.disk_usage(work).free
    finally:
        if not arguments.keep and arguments.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    text = report(measurements, reports, arguments, started, free_disk)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(text)
    print(text)
    if arguments.keep:
        print(f"Kept: {work}")
    return measurements


if __name__ == "__main__":
    main()
