"""Training with TensorFlow on small sets of real photos, with the project's own parameters."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from cat_dog_classifier import training
from cat_dog_classifier.config import base_config
from cat_dog_classifier.datasets import NpzDataset
from cat_dog_classifier.history import kept_epoch
from cat_dog_classifier.models import build_model, build_transfer
from cat_dog_classifier.training import (
    KeepBest,
    check_role,
    cpu_has_bfloat16,
    distribution_strategy,
    fit_variant,
    learning_rate,
    make_dataset,
    resolve_precision,
    shard_indices,
    start_from,
    unfreeze_top_layers,
    worker_shard,
)
from tests.conftest import backbone_weights, resident_file_bytes


@pytest.fixture(scope="module")
def parameters(project_root: Path, mobilenet_weights: Path) -> dict:
    """conf/base parameters, with the real backbone weights found from wherever tests run."""
    params = base_config("parameters", project_root)["variants"]
    params["transfer"]["model"] |= backbone_weights(mobilenet_weights)
    return params


def variant(parameters: dict, name: str, **training) -> tuple[dict, dict]:
    return parameters[name]["model"], {**parameters[name]["training"], **training}


def epoch_labels(dataset: tf.data.Dataset) -> list[float]:
    return [float(y) for _, labels in dataset for y in labels]


def test_dataset_casts_batches_and_reshuffles_each_epoch_reproducibly(gray_set):
    images, labels = gray_set["train_images"], gray_set["train_labels"]
    dataset = make_dataset(images, labels, 16, shuffle_seed=7)
    batch_images, batch_labels = next(iter(dataset))
    assert batch_images.dtype == tf.float32 and batch_labels.dtype == tf.float32
    assert batch_images.shape == (16, *images.shape[1:])
    assert float(tf.reduce_max(batch_images)) > 1.0  # raw 0-255 pixels: rescaling is in the model

    def two_epochs(seed: int) -> tuple[list[float], list[float]]:
        dataset = make_dataset(images, labels, 16, shuffle_seed=seed)
        return epoch_labels(dataset), epoch_labels(dataset)

    first, second = two_epochs(7)
    assert sorted(first) == sorted(labels.tolist())
    assert first != second, "the order should change from one epoch to the next"
    assert two_epochs(7) == (first, second)
    assert two_epochs(8) != (first, second)


def test_dataset_reads_a_memory_mapped_set_batch_by_batch(gray_set, tmp_path):
    NpzDataset(filepath=str(tmp_path / "set.npz")).save(gray_set)
    mapped = NpzDataset(filepath=str(tmp_path / "set.npz")).load()
    images = mapped["train_images"]
    assert isinstance(images, np.memmap)
    batches = list(make_dataset(images, mapped["train_labels"], 16))
    np.testing.assert_array_equal(
        np.concatenate([x for x, _ in batches]), gray_set["train_images"].astype("float32")
    )
    assert [len(x) for x, _ in batches] == [16, 16, 8]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's RssFile")
def test_a_memory_mapped_set_read_whole_leaves_resident_memory_as_it_goes(
    rgb_set, tmp_path, monkeypatch
):
    # The real photos repeated to a set of ~40 MiB, read in batches of ~0.6 MiB.
    repeats = -(-40 * 2**20 // rgb_set["train_images"].nbytes)
    photos = np.concatenate([rgb_set["train_images"]] * repeats)
    NpzDataset(filepath=str(tmp_path / "set.npz")).save(
        {"images": photos, "labels": np.zeros(len(photos), np.uint8)}
    )
    mapped = NpzDataset(filepath=str(tmp_path / "set.npz")).load()

    def peak_growth(release_bytes: int) -> int:
        monkeypatch.setattr(training, "RELEASE_BYTES", release_bytes)
        before, peak = resident_file_bytes(), 0
        for _ in make_dataset(mapped["images"], mapped["labels"], 48):
            peak = max(peak, resident_file_bytes() - before)
        assert resident_file_bytes() - before < 4 * 2**20  # released at the end of the epoch
        return peak

    assert peak_growth(2**62) > 0.8 * photos.nbytes  # never released mid-epoch: the whole set
    assert peak_growth(4 * 2**20) < 0.3 * photos.nbytes  # the batches read since the last release


def test_the_kept_epoch_is_the_first_at_the_best_value():
    history = [
        {"epoch": 1, "val_accuracy": 0.8, "val_loss": 0.5},
        {"epoch": 2, "val_accuracy": 0.9, "val_loss": 0.4},
        {"epoch": 3, "val_accuracy": 0.9, "val_loss": 0.3},
    ]
    assert kept_epoch(history, "val_accuracy") == 2  # a tie keeps the first
    assert kept_epoch(history, "val_loss") == 3  # a loss: the lowest
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    for monitor in ("val_accuracy", "val_loss"):  # the epoch KeepBest keeps in training
        keep = KeepBest(model, monitor)
        for row in history:
            keep.on_epoch_end(row["epoch"] - 1, row)
        assert keep.best_epoch == kept_epoch(history, monitor)
    with pytest.raises(ValueError, match="no epoch"):
        kept_epoch([], "val_accuracy")


def test_workers_read_disjoint_shards_of_the_same_size(gray_set):
    images, labels = gray_set["train_images"], gray_set["train_labels"]
    count = len(images) + 1  # one photo left over with two workers
    shards = [shard_indices(count, index, 2) for index in (0, 1)]
    assert [len(shard) for shard in shards] == [count // 2, count // 2]
    assert not set(shards[0]) & set(shards[1])
    assert len(set(shards[0]) | set(shards[1])) == count - 1
    assert [len(shard_indices(10, index, 3)) for index in range(3)] == [3, 3, 3]

    # make_dataset reads the shard's photos alone, with their labels: in order, or shuffled
    index_of = {bytes(image): index for index, image in enumerate(images)}
    assert len(index_of) == len(images)
    shard = shard_indices(len(images), 1, 2)
    for seed in (None, 7):
        batches = list(make_dataset(images, labels, 8, indices=shard, shuffle_seed=seed))
        assert [len(x) for x, _ in batches] == [8, 8, 4]
        read = [index_of[bytes(image)] for x, _ in batches for image in x.numpy().astype("uint8")]
        assert sorted(read) == shard.tolist()
        assert (read == shard.tolist()) is (seed is None)
        assert [y for _, batch in batches for y in batch.numpy()] == labels[read].tolist()


def test_datasets_run_without_the_autotuning_thread_that_stalled_every_epoch(gray_set, parameters):
    # With it, Keras' per-epoch reset of the validation iterator waited for the thread's next
    # wake-up (up to a minute): a full run's epochs took 41-142 s instead of ~40 s.
    images, labels = gray_set["train_images"], gray_set["train_labels"]
    augmentation = parameters["cnn_dropout_aug"]["training"]["augmentation"]
    for dataset in (
        make_dataset(images, labels, 8),
        make_dataset(images, labels, 8, shuffle_seed=1, augmentation=augmentation),
    ):
        assert dataset.options().autotune.enabled is False


def test_dataset_augments_after_the_same_shuffle_reproducibly(gray_set, parameters):
    images, labels = gray_set["train_images"], gray_set["train_labels"]
    augmentation = parameters["cnn_dropout_aug"]["training"]["augmentation"]

    def epoch(seed: int, augmented: bool) -> tuple[np.ndarray, np.ndarray]:
        dataset = make_dataset(
            images, labels, 8, shuffle_seed=seed, augmentation=augmentation if augmented else None
        )
        batches = list(dataset)
        return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])

    plain, plain_labels = epoch(1, augmented=False)
    augmented, augmented_labels = epoch(1, augmented=True)
    np.testing.assert_array_equal(augmented_labels, plain_labels)  # the order is the shuffle's
    assert augmented.dtype == np.float32 and augmented.shape == plain.shape
    assert not np.allclose(augmented, plain)
    np.testing.assert_array_equal(epoch(1, augmented=True)[0], augmented)  # the seed draws it all
    assert not np.allclose(epoch(2, augmented=True)[0], augmented)
    with pytest.raises(ValueError, match="shuffle_seed"):
        make_dataset(images, labels, 8, augmentation=augmentation)


def test_precision_auto_follows_the_cpu(tmp_path, monkeypatch):
    with_bf16, without = tmp_path / "with", tmp_path / "without"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert cpu_has_bfloat16(with_bf16) and not cpu_has_bfloat16(without)
    assert not cpu_has_bfloat16(tmp_path / "absent")  # not Linux: float32
    assert resolve_precision("float32") == "float32"
    expected = "mixed_bfloat16" if cpu_has_bfloat16() else "float32"
    assert resolve_precision("auto") == expected  # this machine, without GPUs
    with pytest.raises(ValueError, match="Unknown precision 'fp8'"):
        resolve_precision("fp8")


def test_cosine_schedule_warms_up_then_decays_to_zero():
    schedule = learning_rate(
        {"learning_rate": 0.001, "schedule": {"decay": "cosine", "warmup_epochs": 1}}, 4, 10
    )
    rates = [float(schedule(step)) for step in (0, 10, 25, 40)]
    assert rates[0] == pytest.approx(0.0001)
    assert rates[1] == pytest.approx(0.001)  # warmed up after one epoch
    assert rates[1] > rates[2] > rates[3] >= 0
    assert rates[3] == pytest.approx(0.0, abs=1e-9)
    assert learning_rate({"learning_rate": 0.01, "schedule": None}, 4, 10) == 0.01


def test_keep_best_remembers_the_best_epoch_of_every_phase():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    keep = KeepBest(model, "val_accuracy")
    for epoch, accuracy in enumerate([0.7, 0.9, 0.8]):  # a first phase
        model.layers[0].bias.assign([float(epoch)])
        keep.on_epoch_end(epoch, {"val_accuracy": accuracy})
    for epoch, accuracy in enumerate([0.85, 0.88], start=3):  # a second one, never better
        model.layers[0].bias.assign([float(epoch)])
        keep.on_epoch_end(epoch, {"val_accuracy": accuracy})
    keep.restore()
    assert (keep.best_epoch, keep.best) == (2, 0.9)
    assert float(model.layers[0].bias[0]) == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cnn", "cnn_dropout", "cnn_dropout_aug"])
def test_cnn_variants_train_and_report_every_epoch(gray_set, parameters, name):
    model_params, training = variant(parameters, name, epochs=2)
    model, history, info = fit_variant(gray_set, model_params, training)
    assert [row["epoch"] for row in history] == [1, 2]
    assert {"epoch", "accuracy", "loss", "val_accuracy", "val_loss", "images_per_second"} <= set(
        history[0]
    )
    assert info["precision"] == resolve_precision("auto")
    assert all(layer.dtype_policy.name == "float32" for layer in model.layers), "saved float32"
    probabilities = model.predict(gray_set["test_images"].astype("float32"), verbose=0)
    assert probabilities.shape == (len(gray_set["test_images"]), 1)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert not any("random" in layer.name for layer in model.layers), "no augmentation inside"


@pytest.mark.slow
def test_a_variant_starts_from_another_variants_trained_weights(gray_set, parameters):
    source, _, _ = fit_variant(gray_set, *variant(parameters, "cnn_dropout", epochs=1))
    # At a learning rate of zero, training leaves the weights it starts from as they are.
    model_params, training = variant(parameters, "cnn_dropout_aug", epochs=1, learning_rate=0.0)
    model, history, _ = fit_variant(gray_set, model_params, training, initial_model=source)
    for started, trained in zip(source.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(started, trained)
    predictions = source.predict(gray_set["validation_images"].astype("float32"), verbose=0)
    accuracy = np.mean((predictions.ravel() >= 0.5) == gray_set["validation_labels"])
    assert history[0]["val_accuracy"] == pytest.approx(accuracy, abs=0.02)  # bfloat16 rounding
    scratch, _, _ = fit_variant(gray_set, model_params, training)
    assert not np.array_equal(scratch.get_weights()[0], source.get_weights()[0])

    with pytest.raises(ValueError, match="transfer starts from its backbone"):
        fit_variant(gray_set, parameters["transfer"]["model"], training, initial_model=source)


def test_starting_from_a_model_with_other_layers_is_refused_naming_both(parameters):
    cnn = parameters["cnn"]["model"]
    model = build_model((100, 100, 1), cnn)
    smaller = build_model((100, 100, 1), {**cnn, "filters": [16, 32, 64]})
    with pytest.raises(ValueError, match="their weights differ"):
        start_from(model, smaller)


@pytest.mark.slow
def test_mixed_bfloat16_trains_and_saves_a_float32_model_with_its_weights(gray_set, parameters):
    model_params, training = variant(parameters, "cnn", epochs=1, precision="mixed_bfloat16")
    model, _, info = fit_variant(gray_set, model_params, training)
    assert info["precision"] == "mixed_bfloat16"
    assert all(layer.dtype_policy.name == "float32" for layer in model.layers)
    assert all(weight.dtype == "float32" for weight in model.weights)
    reloaded = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert reloaded.dtype_policy.name == "float32"


@pytest.mark.slow
def test_same_seed_retrains_the_same_model(gray_set, parameters):
    """With the project's defaults (parallel input pipeline, precision auto, no TF op
    determinism): the same seed shuffles, augments, drops out and initialises alike."""
    model_params, training = variant(parameters, "cnn_dropout_aug", epochs=2)
    assert training["deterministic"] is False
    first, first_history, _ = fit_variant(gray_set, model_params, training)
    second, second_history, _ = fit_variant(gray_set, model_params, training)

    def without_speed(history: list[dict]) -> list[dict]:
        return [{k: v for k, v in row.items() if k != "images_per_second"} for row in history]

    assert without_speed(first_history) == without_speed(second_history)
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    other, _, _ = fit_variant(gray_set, model_params, {**training, "seed": training["seed"] + 1})
    assert not np.array_equal(other.get_weights()[0], first.get_weights()[0])


@pytest.mark.slow
def test_transfer_trains_the_head_on_cached_features_then_fine_tunes(rgb_set, parameters):
    model_params, training = variant(parameters, "transfer", epochs=2)
    augmentation = {"rotation": 0.05, "zoom": 0.1, "contrast": 0.1}
    training["fine_tune"] = {
        **training["fine_tune"],
        "epochs": 1,
        "layers": 5,
        "augmentation": augmentation,
    }
    model, history, _ = fit_variant(rgb_set, model_params, training)
    assert [row["epoch"] for row in history] == [1, 2, 3]
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
    _, history, _ = fit_variant(rgb_set, model_params, training)
    assert len(history) == 3
    assert calls == ["mobilenet_v2_features", "mobilenet_v2_features"]  # train, validation


def test_fine_tuning_unfreezes_only_the_top_layers_and_no_batch_normalization(
    parameters, mobilenet_weights
):
    params = {k: v for k, v in parameters["transfer"]["model"].items() if k != "architecture"}
    _, feature_extractor, _ = build_transfer((96, 96, 3), **params)
    feature_extractor.trainable = False
    unfreeze_top_layers(feature_extractor, 10)
    backbone = feature_extractor.get_layer("backbone")
    trainable = [layer for layer in backbone.layers if layer.trainable and layer.weights]
    assert trainable and set(trainable) <= set(backbone.layers[-10:])
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable)
    assert all(not layer.trainable for layer in backbone.layers[:-10])


def test_distribution_strategy_is_chosen_by_name():
    assert distribution_strategy("default") is tf.distribute.get_strategy()
    mirrored = distribution_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync >= 1
    with pytest.raises(ValueError, match="Unknown distribution strategy 'tpu'"):
        distribution_strategy("tpu")


def test_the_chief_alone_trains_for_the_pipeline_and_the_others_as_workers(monkeypatch):
    """Checked from TF_CONFIG before any strategy exists: a MultiWorkerMirroredStrategy would
    wait for the whole cluster first."""
    workers = ["127.0.0.1:1", "127.0.0.1:2"]

    def task(kind: str, index: int, cluster: dict | None = None) -> None:
        config = {"cluster": cluster or {"worker": workers}, "task": {"type": kind, "index": index}}
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))

    task("worker", 0)
    check_role("multi_worker", worker=False)
    with pytest.raises(RuntimeError, match="`kedro train-worker` trains on a worker other than"):
        check_role("multi_worker", worker=True)
    task("worker", 1)
    check_role("multi_worker", worker=True)
    with pytest.raises(RuntimeError, match=r"not the chief .*task worker 1.* train-worker"):
        check_role("multi_worker", worker=False)
    task("worker", 0, {"chief": ["127.0.0.1:3"], "worker": workers})  # a chief of its own
    check_role("multi_worker", worker=True)
    task("chief", 0, {"chief": ["127.0.0.1:3"], "worker": workers})
    check_role("multi_worker", worker=False)

    monkeypatch.delenv("TF_CONFIG")  # one machine: no other worker
    check_role("multi_worker", worker=False)
    check_role("default", worker=False)
    for strategy in ("multi_worker", "default"):
        with pytest.raises(RuntimeError, match="this process is the chief"):
            check_role(strategy, worker=True)
    assert worker_shard(distribution_strategy("default")) == (0, 1)


MIRRORED_ON_TWO_CPUS = """
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from cat_dog_classifier.training import fit_variant

data = dict(np.load(sys.argv[1]))
model_params, training = json.loads(sys.argv[2])
model, history, info = fit_variant(data, model_params, training)
print("RESULT", json.dumps({"history": history, "info": info}))
"""


@pytest.mark.slow
def test_mirrored_training_synchronises_two_replicas_and_converges(gray_set, parameters, tmp_path):
    """The CPU split into two logical devices: MirroredStrategy really runs two replicas."""
    np.savez(tmp_path / "set.npz", **gray_set)
    model_params, training = variant(
        parameters,
        "cnn",
        batch_size=8,  # 4 photos per replica, 5 synchronised steps an epoch
        epochs=12,
        schedule=None,
        precision="float32",
        strategy="mirrored",
        strategy_devices=["/cpu:0", "/cpu:1"],
        early_stopping={"monitor": "val_accuracy", "patience": 20},
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MIRRORED_ON_TWO_CPUS,
            str(tmp_path / "set.npz"),
            json.dumps([model_params, training]),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    outcome = json.loads(line.removeprefix("RESULT "))
    assert outcome["info"]["replicas"] == 2
    losses = [row["loss"] for row in outcome["history"]]
    assert len(losses) == 12
    assert min(losses[-3:]) < losses[0] * 0.8, f"the loss should fall: {losses}"
