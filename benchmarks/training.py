"""Training speed and accuracy of every model variant, measured the honest way on a noisy machine.

    python benchmarks/training.py speed               # images/s per variant and setting (minutes)
    python benchmarks/training.py speed --variants cnn --settings float32 mixed_bfloat16
    python benchmarks/training.py repro               # a full `dvc repro --force`, then accuracy

`speed` times the training of each variant on the real preprocessed training set (as `dvc repro`
leaves it in data/05_model_input): every measurement runs in a fresh process (TensorFlow's threads
and Keras' dtype policy are set once per process), settings are interleaved A B C A B C ... so
that a machine whose speed drifts affects them alike, and each row reports the median and the range
over the repeats, with the ratio to the first setting pair by pair. Settings:
- `float32`, `mixed_bfloat16`: the training precision (the project's feeding: tf.data over the
  memory-mapped set, augmentation included where the variant has it);
- `arrays`: float32 fed from in-memory float32 arrays by Keras itself (no tf.data): the baseline the
  project's input pipeline must keep up with (target: within 5%);
- `threads=I,J`: float32 with TensorFlow's intra-op and inter-op thread pools set to I and J.
- `batch=N`: the variant's own precision (`auto` resolved on this machine) with batches of N.
For `transfer`, the full network is trained (the fine-tuning phase, the costly one) at its input
size.

`repro` times a forced, full `dvc repro` in the project and reads every variant's metrics and
history: test accuracy against the goals, epochs run, and the images/s of each epoch.
Each prints a table and writes it to benchmarks/results/training_<mode>.md.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "benchmarks" / "results"
GOALS = {"cnn": 0.82, "cnn_dropout": 0.86, "cnn_dropout_aug": 0.90, "transfer": 0.985}
DEFAULT_SETTINGS = ["float32", "mixed_bfloat16", "arrays"]
FEEDER_TARGET = 0.95  # the project's tf.data feeding at >= 95% of Keras' in-memory arrays


def feeder_verdict(tf_data: list[float], arrays: list[float], target: float = FEEDER_TARGET) -> str:
    """Whether the project's feeding (float32 over tf.data) keeps up with in-memory arrays,
    judged on the median of the pair-by-pair ratios of interleaved repeats."""
    ratio = statistics.median(a / b for a, b in zip(tf_data, arrays, strict=True))
    if ratio >= target:
        return f"{ratio:.2f} of arrays: target {target:.2f} met"
    return f"{ratio:.2f} of arrays: target {target:.2f} missed by {target - ratio:.0%} of arrays"


def machine() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), ""
        )
    load = os.getloadavg()[0]
    return f"{model or platform.processor()}, {os.cpu_count()} CPUs, load {load:.1f} at start"


def batch_and_precision(setting: str, training: dict) -> tuple[int, str]:
    """The batch size and precision a setting trains with: `batch=N` keeps the variant's own
    precision (`auto` resolved on this machine), the others its batch size."""
    if setting.startswith("batch="):
        from cat_dog_classifier.training import resolve_precision  # noqa: PLC0415

        return int(setting.removeprefix("batch=")), resolve_precision(training["precision"])
    precision = "mixed_bfloat16" if setting == "mixed_bfloat16" else "float32"
    return training["batch_size"], precision


def worker(variant: str, setting: str, images: int, model_input_dir: Path) -> None:
    """One measurement in this process: print `RESULT <images/s>`."""
    if setting.startswith("threads="):
        import tensorflow as tf  # noqa: PLC0415 - set before TensorFlow starts its pools

        intra, inter = (int(n) for n in setting.removeprefix("threads=").split(","))
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from cat_dog_classifier.config import variants  # noqa: PLC0415
    from cat_dog_classifier.datasets import NpzDataset  # noqa: PLC0415
    from cat_dog_classifier.models import build_model  # noqa: PLC0415
    from cat_dog_classifier.training import make_dataset, precision_policy  # noqa: PLC0415

    block = variants(PROJECT_ROOT)[variant]
    training, model_params = block["training"], dict(block["model"])
    data = NpzDataset(str(model_input_dir / f"{block['model_input']}.npz")).load()
    train_images, labels = data["train_images"][:images], data["train_labels"][:images]
    batch, precision = batch_and_precision(setting, training)
    augmentation = training.get("augmentation") or (training.get("fine_tune") or {}).get(
        "augmentation"
    )
    keras.utils.set_random_seed(0)
    with precision_policy(precision):
        model = build_model(train_images.shape[1:], model_params)
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        if setting == "arrays":
            floats = np.asarray(train_images, dtype="float32")
            targets = np.asarray(labels, dtype="float32")
            model.fit(floats[: 5 * batch], targets[: 5 * batch], batch_size=batch, verbose=0)
            start = time.perf_counter()
            model.fit(floats, targets, batch_size=batch, verbose=0)
        else:
            dataset = make_dataset(
                train_images, labels, batch, shuffle_seed=0, augmentation=augmentation
            )
            model.fit(dataset.take(5), verbose=0)  # tracing and warm-up, not timed
            start = time.perf_counter()
            model.fit(dataset, verbose=0)
    print(f"RESULT {len(train_images) / (time.perf_counter() - start)}", flush=True)


def measure(variant: str, setting: str, images: int, model_input_dir: Path) -> float:
    command = [sys.executable, __file__, "worker", variant, setting, str(images)]
    command += ["--model-input-dir", str(model_input_dir)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-4000:]}")
    return float(lines[0].split()[1])


def speed_command(arguments: argparse.Namespace) -> str:
    """The command line that repeats this speed measurement."""
    command = "python benchmarks/training.py speed"
    if arguments.variants:
        command += " --variants " + " ".join(arguments.variants)
    if arguments.settings != DEFAULT_SETTINGS:
        command += " --settings " + " ".join(arguments.settings)
    return f"{command} --images {arguments.images} --repeats {arguments.repeats}"


def speed(arguments: argparse.Namespace) -> str:
    from cat_dog_classifier.config import variants  # noqa: PLC0415

    machine_at_start = machine()  # its load average too
    names = arguments.variants or list(variants(PROJECT_ROOT))
    settings = arguments.settings
    rows, verdicts = [], []
    for variant in names:
        timings: dict[str, list[float]] = {setting: [] for setting in settings}
        for repeat in range(arguments.repeats):
            for setting in settings:  # interleaved: a drifting machine affects every setting alike
                value = measure(variant, setting, arguments.images, arguments.model_input_dir)
                timings[setting].append(value)
                print(f"{variant} {setting} repeat {repeat + 1}: {value:.1f} images/s", flush=True)
        baseline = timings[settings[0]]
        for setting in settings:
            values = timings[setting]
            ratios = [a / b for a, b in zip(values, baseline, strict=True)]
            rows.append(
                {
                    "variant": variant,
                    "setting": setting,
                    "images/s median": round(statistics.median(values), 1),
                    "images/s min-max": f"{min(values):.1f}-{max(values):.1f}",
                    f"ratio to {settings[0]} (median, min-max)": (
                        f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
                    ),
                }
            )
        if {"float32", "arrays"} <= timings.keys():
            verdict = feeder_verdict(timings["float32"], timings["arrays"])
            verdicts.append(f"- {variant}: tf.data (float32) at {verdict}")
    table = pd.DataFrame(rows).to_markdown(index=False)
    feeding = "\n\nThe input pipeline against in-memory arrays:\n" + "\n".join(verdicts)
    return (
        f"# Training speed\n\nMachine: {machine_at_start}.\n`{speed_command(arguments)}`: "
        f"training images/s, one pass over the first {arguments.images} training photos after 5 "
        "warm-up batches, "
        f"{arguments.repeats} interleaved repeats, each in a fresh process.\n\n{table}"
        f"{feeding if verdicts else ''}\n"
    )


def repro(arguments: argparse.Namespace) -> str:
    from cat_dog_classifier.config import variants  # noqa: PLC0415

    start = time.perf_counter()
    machine_at_start = machine()  # its load average too
    log = RESULTS / "training_repro.log"
    RESULTS.mkdir(parents=True, exist_ok=True)
    print(f"dvc repro --force; its output also goes to {log}", flush=True)
    with (
        log.open("w") as output,
        subprocess.Popen(
            ["dvc", "repro", "--force"],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as process,
    ):
        timed_lines = []
        for line in process.stdout:  # shown as it runs, and kept for the per-stage times
            timed_lines.append((time.perf_counter() - start, line))
            sys.stdout.write(line)
            output.write(line)
    if process.returncode:
        raise SystemExit(f"dvc repro failed ({process.returncode}): see {log}")
    seconds = time.perf_counter() - start
    minutes = seconds / 60
    stages = pd.DataFrame(
        [
            {"stage": stage, "wall (min)": round(stage_seconds / 60, 1)}
            for stage, stage_seconds in stage_durations(timed_lines, seconds).items()
        ]
    ).to_markdown(index=False)
    reports = PROJECT_ROOT / "data" / "08_reporting"
    # Speeds are MLflow's, not the history's (a rerun would not repeat them): the project's store.
    import mlflow  # noqa: PLC0415

    from cat_dog_classifier.model_files import model_md5  # noqa: PLC0415
    from cat_dog_classifier.registry import epoch_figures  # noqa: PLC0415 - TensorFlow loads

    mlflow.set_tracking_uri(
        os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
    )
    rows = []
    for variant, block in variants(PROJECT_ROOT).items():
        metrics = json.loads((reports / "metrics" / f"{variant}.json").read_text())
        history = json.loads((reports / "training_history" / f"{variant}.json").read_text())
        goal = GOALS.get(variant)
        accuracy = metrics["test"]["accuracy"]
        model_file = PROJECT_ROOT / "data" / "06_models" / "variants" / f"{variant}.keras"
        speeds = epoch_figures(variant, model_md5(model_file.read_bytes()), "images_per_second")
        rows.append(
            {
                "variant": variant,
                "test accuracy": f"{accuracy:.1%}",
                "goal": f"{goal:.1%}" if goal else "",
                "met": ""
                if goal is None
                else ("yes" if accuracy >= goal else f"no, {accuracy - goal:+.1%}"),
                "validation accuracy": f"{metrics['validation']['accuracy']:.1%}",
                "epochs run": len(history),
                "images/s per epoch (median)": round(statistics.median(speeds), 1)
                if speeds
                else "",
                "input": block["model_input"],
                # the third answer, "no cat or dog", on the test split's photos of other things
                "other things rejected": _share(metrics["test"].get("neither_rejected")),
                "pets rejected": _share(metrics["test"].get("pets_rejected")),
                "neither AUROC": _share(metrics["test"].get("neither_roc_auc"), "{:.4f}"),
            }
        )
    table = pd.DataFrame(rows).to_markdown(index=False)
    return (
        f"# Full dvc repro\n\nMachine: {machine_at_start}, {os.getloadavg()[0]:.1f} at the end.\n"
        f"`python benchmarks/training.py repro`: `dvc repro --force` took {minutes:.1f} min "
        f"(goal: 60 min on 2 cores).\n\n{table}\n\n"
        f"Wall time per stage (from one stage's start to the next's):\n\n{stages}\n"
    )


def stage_durations(timed_lines: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds per stage of `dvc repro`'s output, given as (seconds since start, line) pairs:
    each stage runs from its "Running stage" line to the next one's, the last to `end`."""
    starts = [
        (seconds, line.split("'")[1])
        for seconds, line in timed_lines
        if line.startswith("Running stage '")
    ]
    ends = [seconds for seconds, _ in starts[1:]] + [end]
    return {stage: stop - begin for (begin, stage), stop in zip(starts, ends, strict=True)}


def _share(value: float | None, form: str = "{:.1%}") -> str:
    return "" if value is None else form.format(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    speed_parser = modes.add_parser("speed", help="images/s per variant and setting")
    speed_parser.add_argument("--variants", nargs="+", help="default: every variant")
    speed_parser.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS)
    speed_parser.add_argument("--images", type=int, default=2048, help="training photos timed")
    speed_parser.add_argument("--repeats", type=int, default=3)
    modes.add_parser("repro", help="a full dvc repro --force, then accuracy")
    worker_parser = modes.add_parser("worker", help=argparse.SUPPRESS)
    worker_parser.add_argument("variant")
    worker_parser.add_argument("setting")
    worker_parser.add_argument("images", type=int)
    for sub in (speed_parser, worker_parser):
        sub.add_argument(
            "--model-input-dir", type=Path, default=PROJECT_ROOT / "data" / "05_model_input"
        )
    arguments = parser.parse_args()
    os.chdir(PROJECT_ROOT)  # the parameters hold paths relative to the project root
    if arguments.mode == "worker":
        worker(arguments.variant, arguments.setting, arguments.images, arguments.model_input_dir)
        return
    report = speed(arguments) if arguments.mode == "speed" else repro(arguments)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"training_{arguments.mode}.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
