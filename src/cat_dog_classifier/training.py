"""Training with TensorFlow: precision, input pipelines, schedules, early stopping, transfer.

The train pipeline's node calls `fit_variant`; this module is imported only when a model trains.
"""

import contextlib
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
from cat_dog_classifier.models import build_model, build_transfer, resolve_weights

logger = logging.getLogger(__name__)

PRECISIONS = ("float32", "mixed_bfloat16")
# CPU features that compute bfloat16 natively (oneDNN uses them for matmuls and convolutions).
BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


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
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(
        f"Unknown distribution strategy {name!r}: use 'default', 'mirrored' or 'multi_worker'"
    )


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    augmentation: Mapping[str, float] | None = None,
) -> tf.data.Dataset:
    """Batches of (float32 images, float32 labels), in order, or shuffled anew each epoch when
    given a seed (the same seed gives the same sequence of epochs), and then augmented when given
    `augmentation` parameters (`augmentation.augment`; it needs the seed, which draws it too).

    `images` may be a memory map: only the images of each batch are read and copied, never the
    whole set (a 224x224 RGB training set is 3 GB). They are cast to float32 per batch; augmentation
    runs here, ahead of training (prefetched), never inside the model.
    """
    if augmentation and shuffle_seed is None:
        raise ValueError("Augmentation draws from the shuffling's generator: give a shuffle_seed")
    count = len(images)
    epochs = itertools.count()

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # one generator per epoch: its order first, then each batch's augmentation in turn
        rng = None if shuffle_seed is None else np.random.default_rng((shuffle_seed, next(epochs)))
        order = np.arange(count) if rng is None else rng.permutation(count)
        for start in range(0, count, batch_size):
            chosen = np.sort(order[start : start + batch_size])  # sorted: sequential reads
            batch = images[chosen]
            yield augment(batch, augmentation, rng) if augmentation else batch, labels[chosen]

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
        better = self.best is None or (
            value < self.best if self.monitor.endswith("loss") else value > self.best
        )
        if better:
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


def _fit(
    model: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset,
    *,
    epochs: int,
    images: int,
    early_stopping: dict[str, Any],
    keep_best: KeepBest,
    initial_epoch: int = 0,
) -> list[dict[str, float]]:
    """Fit until `epochs` or early stopping; one console line per epoch; `keep_best` follows."""
    stopper = keras.callbacks.EarlyStopping(
        monitor=keep_best.monitor,
        patience=int(early_stopping["patience"]),
        mode="min" if keep_best.monitor.endswith("loss") else "max",
    )
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


def train_cnn(
    data: Mapping[str, np.ndarray],
    model_params: dict[str, Any],
    training: dict[str, Any],
    strategy: tf.distribute.Strategy,
    initial_model: keras.Model | None = None,
) -> tuple[keras.Model, list[dict[str, float]]]:
    """The study's CNN, trained end to end (augmentation, when set, in the input pipeline), from a
    seeded random initialisation or from `initial_model`'s weights."""
    batch_size, seed, epochs = training["batch_size"], training["seed"], training["epochs"]
    count = len(data["train_images"])
    with strategy.scope():
        model = build_model(data["train_images"].shape[1:], model_params)
        if initial_model is not None:
            start_from(model, initial_model)
        rate = learning_rate(training, epochs, _steps(count, batch_size))
        _compile(model, rate, float(training.get("label_smoothing", 0.0)))
    logger.info("%s: %d parameters", model.name, model.count_params())
    keep_best = KeepBest(model, training["early_stopping"]["monitor"])
    history = _fit(
        model,
        make_dataset(
            data["train_images"],
            data["train_labels"],
            batch_size,
            shuffle_seed=seed,
            augmentation=training.get("augmentation"),
        ),
        make_dataset(data["validation_images"], data["validation_labels"], batch_size),
        epochs=epochs,
        images=count,
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
) -> tuple[keras.Model, list[dict[str, float]]]:
    """Head on backbone features computed once, then optional fine-tuning of the backbone's top;
    the best epoch of both phases, on validation, is the one kept."""
    batch_size, seed = training["batch_size"], training["seed"]
    count = len(data["train_images"])
    smoothing = float(training.get("label_smoothing", 0.0))
    params = {k: v for k, v in model_params.items() if k != "architecture"}
    with strategy.scope():
        model, feature_extractor, head = build_transfer(data["train_images"].shape[1:], **params)
        feature_extractor.trainable = False
        _compile(
            head, learning_rate(training, training["epochs"], _steps(count, batch_size)), smoothing
        )

    # The frozen backbone gives the same features every epoch: compute them once.
    logger.info("Extracting backbone features of the training and validation images")
    features = {
        split: feature_extractor.predict(
            make_dataset(data[f"{split}_images"], data[f"{split}_labels"], batch_size), verbose=2
        )
        for split in ("train", "validation")
    }
    keep_best = KeepBest(model, training["early_stopping"]["monitor"])
    history = _fit(
        head,
        make_dataset(features["train"], data["train_labels"], batch_size, shuffle_seed=seed),
        make_dataset(features["validation"], data["validation_labels"], batch_size),
        epochs=training["epochs"],
        images=count,
        early_stopping=training["early_stopping"],
        keep_best=keep_best,
    )

    fine_tune = training["fine_tune"]
    if fine_tune["epochs"] > 0:
        keep_best.restore()  # fine-tune from the head's best epoch
        unfreeze_top_layers(feature_extractor, fine_tune["layers"])
        settings = {**training, **fine_tune}
        with strategy.scope():
            rate = learning_rate(settings, fine_tune["epochs"], _steps(count, batch_size))
            _compile(model, rate, smoothing)
        history += _fit(
            model,
            make_dataset(
                data["train_images"],
                data["train_labels"],
                batch_size,
                shuffle_seed=seed,
                augmentation=fine_tune.get("augmentation"),
            ),
            make_dataset(data["validation_images"], data["validation_labels"], batch_size),
            epochs=fine_tune["epochs"],
            images=count,
            early_stopping=training["early_stopping"],
            keep_best=keep_best,
            initial_epoch=len(history),
        )
    keep_best.restore()
    return model, history


def as_float32(
    model: keras.Model, input_shape: tuple[int, ...], model_params: dict[str, Any]
) -> keras.Model:
    """The same network and weights with every layer in float32: what is saved and exported
    (TF.js has no bfloat16). Mixed precision keeps the weights in float32, so nothing is lost."""
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
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
    initial_model: keras.Model | None = None,
) -> tuple[keras.Model, list[dict[str, float]], dict[str, Any]]:
    """Train one variant on the train split, early-stopped on the validation split, from
    `initial_model`'s weights when given (a CNN only).

    Returns the float32 model (the best validation epoch's weights), its history (one row per
    epoch) and how it was trained: the precision used, the devices, the wall time.
    """
    started = time.perf_counter()
    precision = resolve_precision(training.get("precision", "auto"))
    logger.info("Training in %s on %s", precision, platform.processor() or platform.machine())
    configure_reproducibility(training["seed"], training["deterministic"])
    strategy = distribution_strategy(training["strategy"], training.get("strategy_devices"))
    # Read each array once: a mapping may rebuild its (memory-mapped) array on every access.
    data = {
        f"{split}_{kind}": model_input[f"{split}_{kind}"]
        for split in ("train", "validation")
        for kind in ("images", "labels")
    }
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
            model, history = train_transfer(data, model_params, training, strategy)
        else:
            model, history = train_cnn(data, model_params, training, strategy, initial_model)
    model = as_float32(model, data["train_images"].shape[1:], model_params)
    info = {
        "precision": precision,
        "replicas": strategy.num_replicas_in_sync,
        "devices": ",".join(sorted({d.device_type for d in tf.config.list_logical_devices()})),
        "training_seconds": round(time.perf_counter() - started, 1),
        **weights,
    }
    return model, history, info
