"""Accuracy and speed of every model variant with the default parameters.

Three measurements:
- the wall time of a full `dvc repro --force` in the project (ingest, preprocess, four trainings,
  evaluation, export), then the test accuracy of each variant from data/08_reporting/metrics/,
  against the targets;
- training images/s of each variant for one epoch on the preprocessed sets, fed by the project's
  tf.data pipeline (`make_dataset`, augmentation included) and by in-memory float32 arrays
  (Keras' own array feeding): the pipeline should be within 5% of the arrays. For `transfer`, the
  frozen backbone's feature extraction is what costs, so that is what is timed.

    python benchmarks/training.py                      # everything, on the full data (long)
    python benchmarks/training.py --skip-repro --limit 512 --model-input-dir <dir with the npz>

The table is printed and written to benchmarks/results/training.md.
"""

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from cat_dog_classifier.config import variants
from cat_dog_classifier.models import build_augmentation, build_model, build_transfer
from cat_dog_classifier.training import configure_reproducibility, make_dataset

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "training.md"
TARGETS = {"cnn": 0.82, "cnn_dropout": 0.86, "cnn_dropout_aug": 0.90, "transfer": 0.985}
WARMUP_BATCHES = 5


def run_dvc_repro() -> float:
    """Seconds taken by a forced, full `dvc repro` in the project."""
    start = time.perf_counter()
    subprocess.run(["dvc", "repro", "--force"], cwd=PROJECT_ROOT, check=True)
    return time.perf_counter() - start


def images_per_second(step, count: int) -> float:
    start = time.perf_counter()
    step()
    return count / (time.perf_counter() - start)


def cnn_throughput(
    data: dict[str, np.ndarray], model_params: dict, training: dict
) -> tuple[float, float]:
    """Training images/s for one epoch: (tf.data pipeline, in-memory arrays)."""
    images, labels = data["train_images"], data["train_labels"]
    batch_size, seed = training["batch_size"], training["seed"]
    augmentation = training.get("augmentation")

    def fresh_model() -> keras.Model:
        model = build_model(images.shape[1:], model_params)
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    pipeline_model = fresh_model()
    dataset = make_dataset(
        images,
        labels,
        batch_size,
        shuffle_seed=seed,
        augmentation=build_augmentation(augmentation, seed) if augmentation else None,
    )
    pipeline_model.fit(dataset.take(WARMUP_BATCHES), verbose=0)  # graph tracing, not timed
    pipeline = images_per_second(lambda: pipeline_model.fit(dataset, verbose=0), len(images))

    array_model = fresh_model()
    floats, float_labels = images.astype("float32"), labels.astype("float32")
    warmup = WARMUP_BATCHES * batch_size
    array_model.fit(floats[:warmup], float_labels[:warmup], batch_size=batch_size, verbose=0)
    arrays = images_per_second(
        lambda: array_model.fit(floats, float_labels, batch_size=batch_size, verbose=0),
        len(images),
    )
    return pipeline, arrays


def transfer_throughput(data: dict[str, np.ndarray], model_params: dict, training: dict):
    """Backbone feature extraction images/s: (tf.data pipeline, in-memory arrays)."""
    images, labels = data["train_images"], data["train_labels"]
    params = {k: v for k, v in model_params.items() if k != "architecture"}
    _, feature_extractor, _ = build_transfer(images.shape[1:], **params)
    batch_size = training["batch_size"]
    dataset = make_dataset(images, labels, batch_size)
    feature_extractor.predict(dataset.take(WARMUP_BATCHES), verbose=0)
    pipeline = images_per_second(lambda: feature_extractor.predict(dataset, verbose=0), len(images))
    floats = images.astype("float32")
    arrays = images_per_second(
        lambda: feature_extractor.predict(floats, batch_size=batch_size, verbose=0), len(images)
    )
    return pipeline, arrays


def load_set(path: Path, limit: int | None) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `dvc repro` (or the preprocess pipeline)")
    with np.load(path) as arrays:
        return {key: arrays[key][:limit] for key in ("train_images", "train_labels")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-repro", action="store_true", help="reuse the current outputs")
    parser.add_argument("--limit", type=int, help="training images timed per variant (all)")
    parser.add_argument(
        "--model-input-dir", type=Path, default=PROJECT_ROOT / "data" / "05_model_input"
    )
    parser.add_argument("--variants", nargs="+", default=list(variants(PROJECT_ROOT)))
    args = parser.parse_args()
    os.chdir(PROJECT_ROOT)  # the parameters hold paths relative to the project root

    repro_seconds = None if args.skip_repro else run_dvc_repro()
    metrics_dir = PROJECT_ROOT / "data" / "08_reporting" / "metrics"

    blocks = variants(PROJECT_ROOT)
    rows = []
    for variant in args.variants:
        model_params, training = blocks[variant]["model"], blocks[variant]["training"]
        configure_reproducibility(training["seed"], deterministic=False)
        data = load_set(args.model_input_dir / f"{blocks[variant]['model_input']}.npz", args.limit)
        measure = transfer_throughput if variant == "transfer" else cnn_throughput
        pipeline, arrays = measure(data, model_params, training)
        metrics_file = metrics_dir / f"{variant}.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        accuracy = metrics.get("test", {}).get("accuracy")
        rows.append(
            {
                "variant": variant,
                "test accuracy": accuracy,
                "target": TARGETS[variant],
                "meets target": None if accuracy is None else accuracy >= TARGETS[variant],
                "timed images": len(data["train_images"]),
                "images/s tf.data": round(pipeline, 1),
                "images/s arrays": round(arrays, 1),
                "tf.data / arrays": round(pipeline / arrays, 3),
            }
        )
        print(rows[-1], flush=True)

    table = pd.DataFrame(rows).to_markdown(index=False)
    machine = (
        f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"TensorFlow {tf.__version__}, GPUs: {len(tf.config.list_physical_devices('GPU'))}"
    )
    repro = "not run (--skip-repro)" if repro_seconds is None else f"{repro_seconds / 60:.1f} min"
    report = (
        f"# Training benchmark\n\nMachine: {machine}\n\n`dvc repro --force` wall time: {repro} "
        f"(target: 60 min on 2 cores)\n\nImages/s: one training epoch (transfer: frozen-backbone "
        f"feature extraction); target tf.data / arrays >= 0.95.\n\n{table}\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
