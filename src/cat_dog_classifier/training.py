"""Training with TensorFlow: input pipelines, fitting with early stopping, transfer learning.

The train pipeline's node calls `fit_variant`; this module is imported only when a model trains.
"""

import logging
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cat_dog_classifier.models import build_augmentation, build_model, build_transfer

logger = logging.getLogger(__name__)


def configure_reproducibility(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and TensorFlow; optionally force deterministic TF ops (slower)."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def distribution_strategy(name: str) -> tf.distribute.Strategy:
    """`default`: the one visible device; `mirrored`: data parallelism over every local GPU."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise ValueError(f"Unknown distribution strategy {name!r}: use 'default' or 'mirrored'")


def make_dataset(
    inputs: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    augmentation: keras.Layer | None = None,
    deterministic: bool = False,
) -> tf.data.Dataset:
    """Batches of (float32 inputs, float32 labels), shuffled each epoch when given a seed.

    Images stay uint8 in memory and are cast per batch; augmentation runs here, in parallel with
    training, never inside the model. `deterministic` augments one batch at a time: parallel calls
    would draw from the layers' random state in a varying order.
    """
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(inputs), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(
        lambda x, y: (tf.cast(x, tf.float32), tf.cast(y, tf.float32)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if augmentation is not None:
        dataset = dataset.map(
            lambda x, y: (augmentation(x, training=True), y),
            num_parallel_calls=None if deterministic else tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _fit(
    model: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset,
    *,
    epochs: int,
    early_stopping: dict[str, Any],
    initial_epoch: int = 0,
) -> list[dict[str, float]]:
    """Fit with early stopping that restores the best weights; one console line per epoch."""
    stopper = keras.callbacks.EarlyStopping(restore_best_weights=True, **early_stopping)
    history = model.fit(
        train,
        validation_data=validation,
        epochs=initial_epoch + epochs,
        initial_epoch=initial_epoch,
        callbacks=[stopper],
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=2,
    )
    return [
        {"epoch": epoch + 1, **{name: float(values[i]) for name, values in history.history.items()}}
        for i, epoch in enumerate(history.epoch)
    ]


def _compile(model: keras.Model, learning_rate: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )


def train_transfer(
    data: dict[str, np.ndarray],
    model_params: dict[str, Any],
    training: dict[str, Any],
    strategy: tf.distribute.Strategy,
) -> tuple[keras.Model, list[dict[str, float]]]:
    """Head on backbone features computed once, then optional fine-tuning of the backbone's top."""
    batch_size, seed = training["batch_size"], training["seed"]
    params = {k: v for k, v in model_params.items() if k != "architecture"}
    with strategy.scope():
        model, feature_extractor, head = build_transfer(data["train_images"].shape[1:], **params)
        feature_extractor.trainable = False
        _compile(head, training["learning_rate"])

    # The frozen backbone gives the same features every epoch: compute them once.
    logger.info("Extracting backbone features of the training and validation images")
    features = {
        split: feature_extractor.predict(
            make_dataset(data[f"{split}_images"], data[f"{split}_labels"], batch_size), verbose=2
        )
        for split in ("train", "validation")
    }
    history = _fit(
        head,
        make_dataset(features["train"], data["train_labels"], batch_size, shuffle_seed=seed),
        make_dataset(features["validation"], data["validation_labels"], batch_size),
        epochs=training["epochs"],
        early_stopping=training["early_stopping"],
    )

    fine_tune = training["fine_tune"]
    if fine_tune["epochs"] > 0:
        backbone = feature_extractor.get_layer("backbone")
        feature_extractor.trainable = True
        for layer in backbone.layers[: -fine_tune["layers"]]:
            layer.trainable = False
        # BatchNormalization stays frozen (inference mode): updating its statistics from small
        # batches would undo the pretrained normalisation the head was trained on.
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
        with strategy.scope():
            _compile(model, fine_tune["learning_rate"])
        history += _fit(
            model,
            make_dataset(data["train_images"], data["train_labels"], batch_size, shuffle_seed=seed),
            make_dataset(data["validation_images"], data["validation_labels"], batch_size),
            epochs=fine_tune["epochs"],
            early_stopping=training["early_stopping"],
            initial_epoch=len(history),
        )
    return model, history


def fit_variant(
    model_input: Mapping[str, np.ndarray],
    model_params: dict[str, Any],
    training_params: dict[str, Any],
) -> tuple[keras.Model, list[dict[str, float]]]:
    """Train one variant on the train split, early-stopped on the validation split.

    Returns the model (best validation weights) and its history, one row per epoch.
    """
    configure_reproducibility(training_params["seed"], training_params["deterministic"])
    strategy = distribution_strategy(training_params["strategy"])
    # Read each array once: an .npz mapping loads an array again on every access.
    data = {
        f"{split}_{kind}": model_input[f"{split}_{kind}"]
        for split in ("train", "validation")
        for kind in ("images", "labels")
    }
    if model_params["architecture"] == "transfer":
        return train_transfer(data, model_params, training_params, strategy)

    batch_size, seed = training_params["batch_size"], training_params["seed"]
    augmentation = training_params.get("augmentation")
    with strategy.scope():
        model = build_model(data["train_images"].shape[1:], model_params)
        _compile(model, training_params["learning_rate"])
    logger.info("%s: %d parameters", model.name, model.count_params())
    history = _fit(
        model,
        make_dataset(
            data["train_images"],
            data["train_labels"],
            batch_size,
            shuffle_seed=seed,
            augmentation=build_augmentation(augmentation, seed) if augmentation else None,
            deterministic=training_params["deterministic"],
        ),
        make_dataset(data["validation_images"], data["validation_labels"], batch_size),
        epochs=training_params["epochs"],
        early_stopping=training_params["early_stopping"],
    )
    return model, history
