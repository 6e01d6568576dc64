"""Training with TensorFlow: precision, input pipelines, schedules, early stopping, transfer, and
training on several machines (MultiWorkerMirroredStrategy).

The train pipeline's node calls `fit_variant`, and so does `kedro train-worker` on the other
machines of a multi-worker cluster; this module is imported only when a model trains.
"""

import contextlib
import functools
import itertools
import logging
import platform
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cat_dog_classifier.augmentation import augment
from cat_dog_classifier.datasets.npz_dataset import release_pages
from cat_dog_classifier.history import improves, kept_epoch
from cat_dog_classifier.model_files import load_keras_model
from cat_dog_classifier.models import build_model, build_transfer, resolve_weights

logger = logging.getLogger(__name__)

PRECISIONS = ("float32", "mixed_bfloat16")
# CPU features that compute bfloat16 natively (oneDNN uses them for matmuls and convolutions).
BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# A memory-mapped set's pages leave resident memory after this many bytes read (release_pages).
RELEASE_BYTES = 64 * 2**20


def cpu_has_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX; Linux only, else False)."""
    if not cpuinfo.is_file():
        return False
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return bool(BFLOAT16_CPU_FLAGS & set(line.split(":", 1)[1].split()))
    return False


def resolve_precision(setting: str) -> str:
    """The precision to train in. `auto`: Keras' `mixed_bfloat16` (bfloat16 compute, float32
    weights) where the hardware computes bfloat16 natively, an NVIDIA GPU from Ampere on or a CPU
    with AVX512-BF16 or AMX; float32 elsewhere, where emulated bfloat16 would be slower."""
    if setting != "auto":
        if setting not in PRECISIONS:
            raise ValueError(f"Unknown precision {setting!r}: use 'auto' or one of {PRECISIONS}")
        return setting
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        return "mixed_bfloat16" if capability and capability >= (8, 0) else "float32"
    return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"


@contextlib.contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Build models under Keras' dtype policy `precision`; the previous policy afterwards."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def configure_reproducibility(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and TensorFlow; optionally force deterministic TF ops (slower)."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def distribution_strategy(name: str, devices: list[str] | None = None) -> tf.distribute.Strategy:
    """`default`: the one visible device; `mirrored`: synchronous data parallelism over `devices`
    (None: every local GPU); `multi_worker`: over several machines, as TF_CONFIG describes them."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        return multi_worker_strategy()
    raise ValueError(
        f"Unknown distribution strategy {name!r}: use 'default', 'mirrored' or 'multi_worker'"
    )


@functools.cache
def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """The process's one MultiWorkerMirroredStrategy over the cluster TF_CONFIG describes (one
    local worker without it). Its constructor waits until every worker is up. TensorFlow sets up
    its collective operations at program start: it must come before anything else runs TensorFlow,
    so a process trains at most one variant this way."""
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:
        raise RuntimeError(
            "training.strategy multi_worker must be set up before TensorFlow runs anything, and "
            "something ran first: train the variant in a process of its own (`kedro run "
            "--pipelines train --namespaces <variant>`, what `dvc repro train@<variant>` runs, "
            "or `kedro train-worker --variant <variant>`)"
        ) from error


def worker_shard(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """This worker's index and the number of workers, as TensorFlow numbers its input pipelines
    (the chief first, then TF_CONFIG's workers): (0, 1) but for a MultiWorkerMirroredStrategy
    over several workers."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 0, 1
    resolver = strategy.cluster_resolver
    cluster = resolver.cluster_spec().as_dict()
    tasks = [(kind, i) for kind in ("chief", "worker") for i in range(len(cluster.get(kind, ())))]
    if not tasks:  # no TF_CONFIG: one local worker
        return 0, 1
    return tasks.index((resolver.task_type, resolver.task_id)), len(tasks)


def shard_indices(count: int, index: int, workers: int) -> np.ndarray:
    """The photos worker `index` of `workers` trains on: every `workers`-th from its own index,
    `count // workers` of them, as many as every other worker's (they take the same number of
    steps: a worker that ran out early would leave the others waiting at the next all-reduce).
    The at most `workers - 1` photos left over are not trained on."""
    return np.arange(index, count, workers)[: count // workers]


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    indices: np.ndarray | None = None,
    shuffle_seed: int | None = None,
    augmentation: Mapping[str, float] | None = None,
) -> tf.data.Dataset:
    """Batches of (float32 images, float32 labels) of the photos `indices` names (every photo by
    default; a worker's shard, `shard_indices`), in order, or shuffled anew each epoch when
    given a seed (the same seed gives the same sequence of epochs), and then augmented when given
    `augmentation` parameters (`augmentation.augment`; it needs the seed, which draws it too).

    `images` may be a memory map: only the images of each batch are read and copied, never the
    whole set (a 224x224 RGB training set is 3 GB), and the pages read leave resident memory every
    `RELEASE_BYTES`, so memory grows with the batch, not the set. They are cast to float32 per
    batch; augmentation runs here, ahead of training (prefetched), never inside the model.
    """
    if augmentation and shuffle_seed is None:
        raise ValueError("Augmentation draws from the shuffling's generator: give a shuffle_seed")
    photos = np.arange(len(images)) if indices is None else np.asarray(indices)
    count = len(photos)
    epochs = itertools.count()

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # one generator per epoch: its order first, then each batch's augmentation in turn
        rng = None if shuffle_seed is None else np.random.default_rng((shuffle_seed, next(epochs)))
        order = photos if rng is None else photos[rng.permutation(count)]
        unreleased = 0
        for start in range(0, count, batch_size):
            chosen = np.sort(order[start : start + batch_size])  # sorted: sequential reads
            batch = images[chosen]
            unreleased += batch.nbytes
            if unreleased >= RELEASE_BYTES:
                release_pages(images)
                unreleased = 0
            yield augment(batch, augmentation, rng) if augmentation else batch, labels[chosen]
        release_pages(images)

    signature = (
        tf.TensorSpec(
            (None, *images.shape[1:]), tf.float32 if augmentation else tf.as_dtype(images.dtype)
        ),
        tf.TensorSpec((None,), tf.as_dtype(labels.dtype)),
    )
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature).map(
        lambda x, y: (tf.cast(x, tf.float32), tf.cast(y, tf.float32)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    # No autotuning thread: it sleeps up to a minute between rounds, and destroying an iterator
    # waits for it to wake. Keras destroys the validation iterator every epoch, so training sat
    # idle 10-100 s per epoch (README: Benchmarks, Training). Without it, AUTOTUNE parallelism is
    # the number of cores and the prefetch buffer still grows when it runs empty.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def input_batches(
    strategy: tf.distribute.Strategy,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    **options: Any,
) -> tf.data.Dataset | tf.distribute.DistributedDataset:
    """`make_dataset`'s batches as `fit` reads them under `strategy`, `batch_size` photos a step
    (the global batch, split among the replicas; `options` go to `make_dataset`).

    Under MultiWorkerMirroredStrategy every worker reads its own dataset, of the photos `options`
    name (its shard, for the training set), in batches of `batch_size` / replicas: Keras would
    otherwise read every photo on every worker and keep its part of each batch.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return make_dataset(images, labels, batch_size, **options)
    index, workers = worker_shard(strategy)

    def dataset(context: tf.distribute.InputContext) -> tf.data.Dataset:
        if (context.input_pipeline_id, context.num_input_pipelines) != (index, workers):
            raise RuntimeError(
                f"TensorFlow numbers this worker {context.input_pipeline_id} of "
                f"{context.num_input_pipelines}, its shard {index} of {workers}"
            )
        per_replica = context.get_per_replica_batch_size(batch_size)
        return make_dataset(images, labels, per_replica, **options)

    return strategy.distribute_datasets_from_function(dataset)


class KeepBest(keras.callbacks.Callback):
    """Remembers `model`'s weights at its best `monitor` value across every `fit` it is given to
    (the head's epochs and the fine-tuning's), so the best epoch of all phases is the one kept."""

    def __init__(self, model: keras.Model, monitor: str) -> None:
        super().__init__()
        self.tracked = model
        self.monitor = monitor
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if improves(self.monitor, value, self.best):
            self.best, self.best_epoch = float(value), epoch + 1
            self.weights = self.tracked.get_weights()

    def restore(self) -> None:
        if self.weights is not None:
            logger.info("Keeping epoch %d (%s %.4f)", self.best_epoch, self.monitor, self.best)
            self.tracked.set_weights(self.weights)


class EpochSpeed(keras.callbacks.Callback):
    """Training images per second of each epoch, added to its logs (and so to the history)."""

    def __init__(self, images: int) -> None:
        super().__init__()
        self.images = images
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if logs is not None:  # validation included: what an epoch costs
            logs["images_per_second"] = self.images / (time.perf_counter() - self._start)


def learning_rate(settings: dict[str, Any], epochs: int, steps_per_epoch: int) -> Any:
    """A constant rate, or cosine decay to zero after a linear warm-up (`schedule: cosine`)."""
    rate = float(settings["learning_rate"])
    schedule = settings.get("schedule") or {}
    if not schedule or schedule.get("decay") == "constant":
        return rate
    if schedule.get("decay") != "cosine":
        raise ValueError(f"Unknown learning-rate decay {schedule.get('decay')!r}")
    warmup = min(int(schedule.get("warmup_epochs", 0)), max(epochs - 1, 0)) * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=rate / 10 if warmup else rate,
        decay_steps=max(epochs * steps_per_epoch - warmup, 1),
        warmup_target=rate if warmup else None,
        warmup_steps=warmup,
    )


def _compile(model: keras.Model, rate: Any, label_smoothing: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
    )


@contextlib.contextmanager
def _keras_across_workers(model: keras.Model, strategy: tf.distribute.Strategy) -> Iterator[None]:
    """Keras 3's `fit` under a MultiWorkerMirroredStrategy of several workers, which it fails
    (keras-team/keras#20585, tensorflow/tensorflow#72388) twice: before the first epoch it
    all-reduces a batch of data to build the model, a structure the strategy cannot reduce; and
    after every step it averages the metrics across workers along an axis the scalars lack.

    Here the model builds what it lacks where it traces its steps, under the strategy's scope, as
    on one device, and the metrics are averaged whole: every worker reads as many photos a step
    (its shard's) and the whole validation split, so the average is the figure of all photos,
    the same on every worker; early stopping and the kept epoch are decided alike everywhere.
    """
    if worker_shard(strategy)[1] == 1:
        yield
        return
    from keras.src.backend.tensorflow import trainer  # noqa: PLC0415 - what the fix replaces

    reduce_per_replica = trainer.reduce_per_replica

    def reduce_whole(values: Any, strategy: tf.distribute.Strategy, reduction: str = "auto") -> Any:
        if reduction not in ("auto", "mean"):
            return reduce_per_replica(values, strategy, reduction)
        return keras.tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)

    built_under = model._distribute_strategy
    model._distribute_strategy = None  # the model's own: Keras then builds nothing before fitting
    trainer.reduce_per_replica = reduce_whole
    try:
        with strategy.scope():
            yield
    finally:
        trainer.reduce_per_replica = reduce_per_replica
        model._distribute_strategy = built_under


def _fit(
    model: keras.Model,
    train: tf.data.Dataset | tf.distribute.DistributedDataset,
    validation: tf.data.Dataset | tf.distribute.DistributedDataset,
    *,
    strategy: tf.distribute.Strategy,
    epochs: int,
    images: int,
    early_stopping: dict[str, Any],
    keep_best: KeepBest,
    initial_epoch: int = 0,
) -> list[dict[str, float]]:
    """Fit until `epochs` or early stopping; one console line per epoch; `keep_best` follows.
    `images`: the photos one epoch trains on, on every worker together."""
    stopper = keras.callbacks.EarlyStopping(
        monitor=keep_best.monitor,
        patience=int(early_stopping["patience"]),
        mode="min" if keep_best.monitor.endswith("loss") else "max",
    )
    with _keras_across_workers(model, strategy):
        history = model.fit(
            train,
            validation_data=validation,
            epochs=initial_epoch + epochs,
            initial_epoch=initial_epoch,
            callbacks=[EpochSpeed(images), keep_best, stopper],
            verbose=2,
        )
    return [
        {"epoch": epoch + 1, **{name: float(values[i]) for name, values in history.history.items()}}
        for i, epoch in enumerate(history.epoch)
    ]


def _steps(count: int, batch_size: int) -> int:
    return -(-count // batch_size)


def _photos(count: int, shard: np.ndarray | None) -> int:
    """The training photos this worker reads an epoch: its shard's, else all `count`."""
    return count if shard is None else len(shard)


def train_cnn(
    data: Mapping[str, np.ndarray],
    model_params: dict[str, Any],
    training: dict[str, Any],
    strategy: tf.distribute.Strategy,
    initial_model: keras.Model | None = None,
    *,
    shard: np.ndarray | None = None,
) -> tuple[keras.Model, list[dict[str, float]]]:
    """The study's CNN, trained end to end (augmentation, when set, in the input pipeline), from a
    seeded random initialisation or from `initial_model`'s weights; on the training photos
    `shard` names (this worker's, on several: `shard_indices`), every one by default."""
    batch_size, seed, epochs = training["batch_size"], training["seed"], training["epochs"]
    workers = worker_shard(strategy)[1]
    photos = _photos(len(data["train_images"]), shard)
    with strategy.scope():
        model = build_model(data["train_images"].shape[1:], model_params)
        if initial_model is not None:
            start_from(model, initial_model)
        rate = learning_rate(training, epochs, _steps(photos, batch_size // workers))
        _compile(model, rate, float(training.get("label_smoothing", 0.0)))
    logger.info("%s: %d parameters", model.name, model.count_params())
    keep_best = KeepBest(model, training["early_stopping"]["monitor"])
    history = _fit(
        model,
        input_batches(
            strategy,
            data["train_images"],
            data["train_labels"],
            batch_size,
            indices=shard,
            shuffle_seed=seed,
            augmentation=training.get("augmentation"),
        ),
        input_batches(strategy, data["validation_images"], data["validation_labels"], batch_size),
        strategy=strategy,
        epochs=epochs,
        images=photos * workers,
        early_stopping=training["early_stopping"],
        keep_best=keep_best,
    )
    keep_best.restore()
    return model, history


def start_from(model: keras.Model, initial_model: keras.Model) -> None:
    """Give `model` the weights of `initial_model`, a model with the same weighted layers (Dropout
    rates may differ: Dropout has no weights)."""
    shapes = [tuple(w.shape) for w in model.weights]
    initial_shapes = [tuple(w.shape) for w in initial_model.weights]
    if shapes != initial_shapes:
        raise ValueError(
            f"Cannot start {model.name} from {initial_model.name}: their weights differ "
            f"({len(shapes)} arrays {shapes} against {len(initial_shapes)} {initial_shapes}); "
            "initial_weights must name a variant with the same architecture"
        )
    model.set_weights(initial_model.get_weights())


def unfreeze_top_layers(feature_extractor: keras.Model, count: int) -> None:
    """Make the backbone's top `count` layers trainable, all but BatchNormalization: updating its
    statistics from small batches would undo the pretrained normalisation the head learnt on."""
    backbone = feature_extractor.get_layer("backbone")
    feature_extractor.trainable = True
    for layer in backbone.layers[:-count]:
        layer.trainable = False
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def train_transfer(
    data: Mapping[str, np.ndarray],
    model_params: dict[str, Any],
    training: dict[str, Any],
    strategy: tf.distribute.Strategy,
    *,
    shard: np.ndarray | None = None,
) -> tuple[keras.Model, list[dict[str, float]]]:
    """Head on backbone features computed once, then optional fine-tuning of the backbone's top;
    the best epoch of both phases, on validation, is the one kept. Trained on the training photos
    `shard` names (this worker's, on several: it computes their features alone, and the
    validation split's), every one by default."""
    batch_size, seed = training["batch_size"], training["seed"]
    workers = worker_shard(strategy)[1]
    photos = _photos(len(data["train_images"]), shard)
    steps = _steps(photos, batch_size // workers)
    smoothing = float(training.get("label_smoothing", 0.0))
    params = {k: v for k, v in model_params.items() if k != "architecture"}
    with strategy.scope():
        model, feature_extractor, head = build_transfer(data["train_images"].shape[1:], **params)
        feature_extractor.trainable = False
        _compile(head, learning_rate(training, training["epochs"], steps), smoothing)

    # The frozen backbone gives the same features every epoch: compute them once. On several
    # workers, with a copy outside the strategy: each worker its own photos, no all-reduce.
    logger.info("Extracting backbone features of the training and validation images")
    extractor = feature_extractor if workers == 1 else _copy_outside_strategy(feature_extractor)
    labels = {
        "train": data["train_labels"] if shard is None else data["train_labels"][shard],
        "validation": data["validation_labels"],
    }
    features = {
        split: extractor.predict(
            make_dataset(
                data[f"{split}_images"],
                data[f"{split}_labels"],
                batch_size,
                indices=shard if split == "train" else None,
            ),
            verbose=2,
        )
        for split in ("train", "validation")
    }
    keep_best = KeepBest(model, training["early_stopping"]["monitor"])
    history = _fit(
        head,
        input_batches(strategy, features["train"], labels["train"], batch_size, shuffle_seed=seed),
        input_batches(strategy, features["validation"], labels["validation"], batch_size),
        strategy=strategy,
        epochs=training["epochs"],
        images=photos * workers,
        early_stopping=training["early_stopping"],
        keep_best=keep_best,
    )

    fine_tune = training["fine_tune"]
    if fine_tune["epochs"] > 0:
        keep_best.restore()  # fine-tune from the head's best epoch
        unfreeze_top_layers(feature_extractor, fine_tune["layers"])
        settings = {**training, **fine_tune}
        with strategy.scope():
            _compile(model, learning_rate(settings, fine_tune["epochs"], steps), smoothing)
        history += _fit(
            model,
            input_batches(
                strategy,
                data["train_images"],
                data["train_labels"],
                batch_size,
                indices=shard,
                shuffle_seed=seed,
                augmentation=fine_tune.get("augmentation"),
            ),
            input_batches(
                strategy, data["validation_images"], data["validation_labels"], batch_size
            ),
            strategy=strategy,
            epochs=fine_tune["epochs"],
            images=photos * workers,
            early_stopping=training["early_stopping"],
            keep_best=keep_best,
            initial_epoch=len(history),
        )
    keep_best.restore()
    return model, history


def _copy_outside_strategy(model: keras.Model) -> keras.Model:
    """The same network and weights, its variables outside any distribution strategy: its
    `predict` runs on this machine alone (a MultiWorkerMirroredStrategy model's gathers every
    worker's outputs)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def as_float32(
    model: keras.Model,
    input_shape: tuple[int, ...],
    model_params: dict[str, Any],
    *,
    rebuild: bool = False,
) -> keras.Model:
    """The same network and weights with every layer in float32: what is saved and exported
    (TF.js has no bfloat16). Mixed precision keeps the weights in float32, so nothing is lost.
    `rebuild`: built anew even when float32 already, outside the strategy it trained under (a
    MultiWorkerMirroredStrategy model's `predict` would wait for the other workers)."""
    if not rebuild and all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    with precision_policy("float32"):
        params = dict(model_params)
        if params["architecture"] == "transfer":
            params["weights"] = None  # the trained weights are copied below
            params.pop("weights_sha256", None)
        copy = build_model(input_shape, params)
    copy.set_weights(model.get_weights())
    return copy


def fit_variant(
    model_input: Mapping[str, np.ndarray],
    model_params: dict[str, Any],
    training: dict[str, Any],
    initial_model: keras.Model | bytes | None = None,
    *,
    worker: bool = False,
) -> tuple[keras.Model, list[dict[str, float]], dict[str, Any]]:
    """Train one variant on the train split, early-stopped on the validation split, from
    `initial_model`'s weights when given (a CNN only): a model, or its `.keras` file's bytes,
    loaded once the distribution strategy exists.

    Under `training.strategy: multi_worker`, the chief (TF_CONFIG) trains for the train
    pipeline, which writes the model, its history and the MLflow run; each other worker trains
    with `worker` (`kedro train-worker`), and its caller writes nothing. Each refuses the other's
    role. On one machine there is no other worker: `worker` is refused.

    Returns the float32 model (the best validation epoch's weights; outside any distribution
    strategy), its history (one row per epoch) and how it was trained: the precision used, the
    replicas, workers and this worker's index, the training photos it read per epoch, the
    devices, the wall time, the epoch kept.
    """
    started = time.perf_counter()
    check_role(training["strategy"], worker)
    # Then the strategy: a MultiWorkerMirroredStrategy must exist before anything runs TensorFlow.
    strategy = distribution_strategy(training["strategy"], training.get("strategy_devices"))
    index, workers = worker_shard(strategy)
    if isinstance(initial_model, bytes):
        initial_model = load_keras_model(initial_model)
    precision = resolve_precision(training.get("precision", "auto"))
    logger.info("Training in %s on %s", precision, platform.processor() or platform.machine())
    configure_reproducibility(training["seed"], training["deterministic"])
    # Read each array once: a mapping may rebuild its (memory-mapped) array on every access.
    data = {
        f"{split}_{kind}": model_input[f"{split}_{kind}"]
        for split in ("train", "validation")
        for kind in ("images", "labels")
    }
    count = len(data["train_labels"])
    shard = shard_indices(count, index, workers) if workers > 1 else None
    if shard is not None:
        logger.info(
            "Worker %d of %d: training on its shard, %d of the %d training photos, %d a step of "
            "the %d of every worker",
            index,
            workers,
            len(shard),
            count,
            training["batch_size"] // workers,
            training["batch_size"],
        )
    weights = {}
    if model_params["architecture"] == "transfer":  # resolved once, and recorded
        copies = model_params.get("weights_local_copies")
        resolved = resolve_weights(model_params["weights"], copies)
        model_params = {**model_params, "weights": resolved}
        weights = {"backbone_weights": str(resolved)}
    with precision_policy(precision):
        if model_params["architecture"] == "transfer":
            if initial_model is not None:
                raise ValueError("transfer starts from its backbone's weights, not a variant's")
            model, history = train_transfer(data, model_params, training, strategy, shard=shard)
        else:
            model, history = train_cnn(
                data, model_params, training, strategy, initial_model, shard=shard
            )
    model = as_float32(model, data["train_images"].shape[1:], model_params, rebuild=workers > 1)
    info = {
        "precision": precision,
        "replicas": strategy.num_replicas_in_sync,
        "workers": workers,
        "worker": index,
        "train_photos": _photos(count, shard),
        "devices": ",".join(sorted({d.device_type for d in tf.config.list_logical_devices()})),
        "training_seconds": round(time.perf_counter() - started, 1),
        "best_epoch": kept_epoch(history, training["early_stopping"]["monitor"]),
        **weights,
    }
    return model, history, info


def check_role(strategy: str, worker: bool) -> None:
    """Refuse to train the chief's part on another worker, or the reverse (`fit_variant`), before
    anything starts: a MultiWorkerMirroredStrategy would first wait for every worker to be up.
    The chief is TF_CONFIG's `chief` task, else its worker 0; on one machine there is no other
    worker."""
    chief, place = True, "the only worker"
    if strategy == "multi_worker":
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        jobs = resolver.cluster_spec().jobs
        kind, index = resolver.task_type, resolver.task_id
        chief = (
            not jobs or kind == "chief" or ((kind, index) == ("worker", 0) and "chief" not in jobs)
        )
        place = f"task {kind} {index} of the cluster TF_CONFIG describes" if jobs else place
    if worker and chief:
        raise RuntimeError(
            f"`kedro train-worker` trains on a worker other than the chief, and this process is "
            f"the chief ({place}; training.strategy {strategy}): here run the pipeline, `dvc "
            "repro train@<variant>` or `kedro run --pipelines train --namespaces <variant>`, "
            "which writes the model, its history and the MLflow run"
        )
    if not worker and not chief:
        raise RuntimeError(
            f"This process is not the chief of its multi-worker cluster ({place}): the chief "
            "alone runs the train pipeline, which writes the model, its history and the MLflow "
            "run. Here run `kedro train-worker --variant <variant>`, with the chief's parameters"
        )
