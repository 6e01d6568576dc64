"""Training with TensorFlow on small sets of real photos, with the project's own parameters."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from cat_dog_classifier.config import base_config
from cat_dog_classifier.models import build_augmentation
from cat_dog_classifier.training import distribution_strategy, fit_variant, make_dataset


@pytest.fixture(scope="module")
def parameters(project_root: Path, mobilenet_weights: Path) -> dict:
    """conf/base parameters, with the real backbone weights found from wherever tests run."""
    params = base_config("parameters", project_root)["variants"]
    params["transfer"]["model"]["weights"] = str(mobilenet_weights)
    return params


def variant(parameters: dict, name: str, **training) -> tuple[dict, dict]:
    return parameters[name]["model"], {**parameters[name]["training"], **training}


def test_dataset_casts_batches_and_reshuffles_each_epoch_reproducibly(gray_set):
    images, labels = gray_set["train_images"], gray_set["train_labels"]
    dataset = make_dataset(images, labels, 16, shuffle_seed=7)
    batch_images, batch_labels = next(iter(dataset))
    assert batch_images.dtype == tf.float32 and batch_labels.dtype == tf.float32
    assert batch_images.shape == (16, *images.shape[1:])
    assert float(tf.reduce_max(batch_images)) > 1.0  # raw 0-255 pixels: rescaling is in the model

    def epoch_labels(data: tf.data.Dataset) -> list[float]:
        return [float(y) for _, labels in data for y in labels]

    def two_epochs(seed: int) -> tuple[list[float], list[float]]:
        dataset = make_dataset(images, labels, 16, shuffle_seed=seed)
        return epoch_labels(dataset), epoch_labels(dataset)

    first, second = two_epochs(7)
    assert sorted(first) == sorted(labels.tolist())
    assert first != second, "the order should change from one epoch to the next"
    assert two_epochs(7) == (first, second)
    assert two_epochs(8) != (first, second)


def test_dataset_augments_outside_the_model_and_keeps_unshuffled_order(gray_set, parameters):
    images, labels = gray_set["validation_images"], gray_set["validation_labels"]
    augmentation = build_augmentation(
        parameters["cnn_dropout_aug"]["training"]["augmentation"], seed=1
    )
    plain = np.concatenate([x for x, _ in make_dataset(images, labels, 8)])
    augmented = np.concatenate(
        [x for x, _ in make_dataset(images, labels, 8, augmentation=augmentation)]
    )
    np.testing.assert_array_equal(plain, images.astype("float32"))
    assert augmented.shape == plain.shape
    assert not np.allclose(augmented, plain)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cnn", "cnn_dropout", "cnn_dropout_aug"])
def test_cnn_variants_train_and_report_every_epoch(gray_set, parameters, name):
    model_params, training = variant(parameters, name, epochs=2)
    model, history = fit_variant(gray_set, model_params, training)
    assert [row["epoch"] for row in history] == [1, 2]
    assert set(history[0]) == {"epoch", "accuracy", "loss", "val_accuracy", "val_loss"}
    probabilities = model.predict(gray_set["test_images"].astype("float32"), verbose=0)
    assert probabilities.shape == (len(gray_set["test_images"]), 1)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert not any("random" in layer.name for layer in model.layers), "no augmentation inside"


@pytest.mark.slow
def test_same_seed_retrains_the_same_model(gray_set, parameters):
    model_params, training = variant(parameters, "cnn_dropout_aug", epochs=1, deterministic=True)
    first, first_history = fit_variant(gray_set, model_params, training)
    second, second_history = fit_variant(gray_set, model_params, training)
    assert first_history == second_history
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    other, _ = fit_variant(gray_set, model_params, {**training, "seed": training["seed"] + 1})
    assert not np.array_equal(other.get_weights()[0], first.get_weights()[0])


@pytest.mark.slow
def test_transfer_trains_the_head_on_cached_features_then_fine_tunes(rgb_set, parameters):
    model_params, training = variant(parameters, "transfer", epochs=2)
    training["fine_tune"] = {**training["fine_tune"], "epochs": 1, "layers": 5}
    model, history = fit_variant(rgb_set, model_params, training)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    backbone = model.get_layer("backbone")
    trainable = [layer.name for layer in backbone.layers if layer.trainable and layer.weights]
    assert 0 < len(trainable) <= 5, "only the top layers are fine-tuned"
    probabilities = model.predict(rgb_set["test_images"].astype("float32"), verbose=0)
    assert np.all((probabilities >= 0) & (probabilities <= 1))


@pytest.mark.slow
def test_frozen_transfer_reuses_features_instead_of_running_the_backbone_each_epoch(
    rgb_set, parameters, monkeypatch
):
    """With the backbone frozen, each epoch runs only the head: images go through it once."""
    calls = []
    original_predict = keras.Model.predict

    def counting_predict(self, *args, **kwargs):
        calls.append(self.name)
        return original_predict(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "predict", counting_predict)
    model_params, training = variant(parameters, "transfer", epochs=3)
    training["early_stopping"] = {**training["early_stopping"], "patience": 10}
    training["fine_tune"] = {**training["fine_tune"], "epochs": 0}  # the frozen phase alone
    _, history = fit_variant(rgb_set, model_params, training)
    assert len(history) == 3
    assert calls == ["mobilenet_v2_features", "mobilenet_v2_features"]  # train, validation


def test_distribution_strategy_is_chosen_by_name():
    assert distribution_strategy("default") is tf.distribute.get_strategy()
    mirrored = distribution_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync >= 1
    with pytest.raises(ValueError, match="Unknown distribution strategy 'tpu'"):
        distribution_strategy("tpu")
