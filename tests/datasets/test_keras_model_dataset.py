"""KerasModelDataset: the same model always gives the same bytes, which Keras reads back as that
model."""

import io
import json
import re
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from cat_dog_classifier.datasets import KerasModelDataset
from cat_dog_classifier.datasets.keras_model import keras_model_file
from cat_dog_classifier.model_files import load_keras_model, model_md5


@pytest.fixture(scope="module")
def trained() -> keras.Model:
    """A small real model with weights, batch statistics and optimizer state, one step trained."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="dog_probability")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    images = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 1)).astype("float32")
    model.fit(images, np.arange(8) % 2, epochs=1, verbose=0)
    return model


def keras_own_file(model: keras.Model, path: Path) -> bytes:
    keras.saving.save_model(model, path)
    return path.read_bytes()


def test_the_same_model_saved_twice_gives_the_same_bytes(trained, tmp_path):
    first, first_keras = keras_model_file(trained), keras_own_file(trained, tmp_path / "a.keras")
    time.sleep(2.1)  # past a second (metadata.json) and two (a zip member's date)
    second, second_keras = keras_model_file(trained), keras_own_file(trained, tmp_path / "b.keras")

    assert first_keras != second_keras, "Keras' own file carries its save time"
    assert first == second
    assert model_md5(first) == model_md5(second)


def build() -> keras.Model:
    """A small model whose layers share one dtype policy object, as the trained variants' do."""
    keras.utils.set_random_seed(0)
    policy = keras.DTypePolicy("float32")
    inputs = keras.Input((16, 16, 1), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv", dtype=policy)(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool", dtype=policy)(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="dog_probability", dtype=policy)(x)
    return keras.Model(inputs, outputs, name="model")


def shared_object_ids(keras_file: bytes) -> set[int]:
    config = zipfile.ZipFile(io.BytesIO(keras_file)).read("config.json").decode()
    return {int(i) for i in re.findall(r'"shared_object_id": (\d+)', config)}


def test_the_same_model_built_anew_gives_the_same_bytes(tmp_path):
    """As in another process: the shared policy is another object, and Keras names a shared object
    by its memory address (`shared_object_id`, Python's `id()`)."""
    first, second = build(), build()
    first_keras = keras_own_file(first, tmp_path / "first.keras")
    second_keras = keras_own_file(second, tmp_path / "second.keras")
    assert shared_object_ids(first_keras) != shared_object_ids(second_keras)

    ours = keras_model_file(first)
    assert ours == keras_model_file(second)
    assert shared_object_ids(ours) == {1}
    images = np.random.default_rng(2).uniform(0, 255, (2, 16, 16, 1)).astype("float32")
    np.testing.assert_array_equal(
        load_keras_model(ours).predict(images, verbose=0), first.predict(images, verbose=0)
    )


def test_the_file_holds_no_save_time_and_reads_back_as_the_model(trained):
    file = keras_model_file(trained)

    with zipfile.ZipFile(io.BytesIO(file)) as archive:
        members = archive.infolist()
        metadata = json.loads(archive.read("metadata.json"))
    assert [m.filename for m in members] == sorted(m.filename for m in members)
    assert {m.date_time for m in members} == {(1980, 1, 1, 0, 0, 0)}
    assert "date_saved" not in metadata
    assert metadata["keras_version"] == keras.__version__

    loaded = load_keras_model(file)
    images = np.random.default_rng(1).uniform(0, 255, (4, 16, 16, 1)).astype("float32")
    np.testing.assert_array_equal(
        loaded.predict(images, verbose=0), trained.predict(images, verbose=0)
    )
    for ours, theirs in zip(loaded.optimizer.variables, trained.optimizer.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_saves_the_stable_file_and_loads_the_model(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="image")
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
    dataset = KerasModelDataset(filepath=str(tmp_path / "models/cnn.keras"))

    assert not dataset.exists()
    dataset.save(model)

    assert (tmp_path / "models/cnn.keras").read_bytes() == keras_model_file(model)
    loaded = dataset.load()
    images = np.arange(128, dtype="float32").reshape(2, 8, 8, 1)
    np.testing.assert_array_equal(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0)
    )
