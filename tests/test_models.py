"""Architectures built from the project's parameters, on real photos and real backbone weights."""

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cat_dog_classifier.config import base_config
from cat_dog_classifier.models import (
    build_backbone,
    build_model,
    fold_batch_normalization,
    resolve_weights,
)
from cat_dog_classifier.sources import file_sha256
from tests import real_data
from tests.conftest import backbone_weights


@pytest.fixture(scope="module")
def parameters(project_root: Path) -> dict:
    """Every variant's parameter block (conf/base/parameters_train.yml)."""
    return base_config("parameters", project_root)["variants"]


@pytest.fixture(scope="module")
def photos(petimages_zip: Path) -> np.ndarray:
    """Four real 180x180 RGB photos (two cats, two dogs), uint8."""
    names = [f"PetImages/{kind}/{n}.jpg" for kind in ("Cat", "Dog") for n in (0, 1)]
    with zipfile.ZipFile(petimages_zip) as source:
        return np.stack([np.asarray(Image.open(io.BytesIO(source.read(n)))) for n in names])


def resized(photos: np.ndarray, size: int, grayscale: bool = False) -> np.ndarray:
    images = tf.image.resize(photos, (size, size))
    return (tf.image.rgb_to_grayscale(images) if grayscale else images).numpy()


@pytest.mark.parametrize(
    ("name", "dropout_layers"), [("cnn", 0), ("cnn_dropout", 4), ("cnn_dropout_aug", 4)]
)
def test_cnn_variants_follow_the_study(parameters, photos, name, dropout_layers):
    model = build_model((100, 100, 1), parameters[name]["model"])
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[1] == "Rescaling", "raw 0-255 pixels in: rescaling is inside the model"
    assert [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)] == [
        32,
        64,
        128,
    ]
    assert kinds.count("MaxPooling2D") == 3
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [
        100,
        1,
    ]
    assert kinds.count("Dropout") == dropout_layers
    assert not any(kind.startswith("Random") for kind in kinds), "no augmentation in the model"
    probabilities = model.predict(resized(photos, 100, grayscale=True), verbose=0)
    assert probabilities.shape == (4, 1)
    assert np.all((probabilities > 0) & (probabilities < 1))


def test_transfer_loads_the_backbone_weights_file(parameters, photos, mobilenet_weights):
    model_params = {**parameters["transfer"]["model"], **backbone_weights(mobilenet_weights)}
    model = build_model((96, 96, 3), model_params)
    loaded = model.get_layer("backbone")
    reference = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(96, 96, 3)
    )
    reference.load_weights(mobilenet_weights)
    for ours, theirs in zip(loaded.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    # The preprocessing inside the model is MobileNetV2's own ([-1, 1] scaling).
    images = resized(photos, 96)
    expected = keras.layers.GlobalAveragePooling2D()(
        reference(keras.applications.mobilenet_v2.preprocess_input(images.copy()))
    )
    # By type: Keras numbers auto-named layers per process, so the name depends on test order.
    pooling_type = keras.layers.GlobalAveragePooling2D
    [pooling] = [layer for layer in model.layers if isinstance(layer, pooling_type)]
    features = keras.Model(model.input, pooling.output)
    np.testing.assert_allclose(features.predict(images, verbose=0), expected, atol=1e-4)


def test_resnet50_reads_rgb_like_keras_preprocessing_reads_bgr(tmp_path):
    """Mean subtraction + the RGB->BGR swap folded into conv1 equal resnet50.preprocess_input."""
    shape = (32, 32, 3)
    reference = keras.applications.ResNet50(include_top=False, weights=None, input_shape=shape)
    weights = tmp_path / "resnet50.weights.h5"
    reference.save_weights(weights)
    ours = build_backbone("resnet50", shape, str(weights))
    images = np.random.default_rng(0).uniform(0, 255, (2, *shape)).astype("float32")
    expected = keras.layers.GlobalAveragePooling2D()(
        reference(keras.applications.resnet50.preprocess_input(images.copy()))
    )
    np.testing.assert_allclose(ours.predict(images, verbose=0), expected, rtol=1e-3, atol=1e-3)


def batch_norms(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization of `model` and of the models nested in it."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += batch_norms(layer)
        elif isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
    return found


def test_folding_batch_normalization_keeps_transfers_answers(parameters, photos, mobilenet_weights):
    model_params = {**parameters["transfer"]["model"], **backbone_weights(mobilenet_weights)}
    model = build_model((96, 96, 3), model_params)
    folded = fold_batch_normalization(model)
    assert len(batch_norms(model)) == 52  # MobileNetV2's, each after a convolution
    assert batch_norms(folded) == []
    images = resized(photos, 96)
    np.testing.assert_allclose(
        folded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5
    )


def test_only_a_batch_normalization_that_alone_reads_a_linear_convolution_folds():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, name="conv_with_bias")(inputs)
    x = keras.layers.BatchNormalization(name="bn_conv")(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, name="depthwise")(x)
    x = keras.layers.BatchNormalization(center=False, scale=False, name="bn_depthwise")(x)
    shared = keras.layers.Conv2D(8, 1, use_bias=False, name="conv_read_twice")(x)
    x = keras.layers.BatchNormalization(name="bn_shared")(shared) + shared
    x = keras.layers.Conv2D(8, 1, activation="relu", name="conv_relu")(x)
    x = keras.layers.BatchNormalization(name="bn_after_relu")(x)
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="bn_alone")(x))
    for layer in batch_norms(model):  # statistics far from the initial identity
        rng = np.random.default_rng(len(layer.name))
        layer.set_weights([rng.uniform(0.5, 2, w.shape) for w in layer.get_weights()])
    folded = fold_batch_normalization(model)
    remaining = [layer.name for layer in batch_norms(folded)]
    assert remaining == ["bn_shared", "bn_after_relu", "bn_alone"]
    assert folded.get_layer("depthwise").use_bias
    images = np.random.default_rng(1).uniform(0, 255, (2, 12, 12, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(images))
    # float32 rounding, relative to the outputs' scale (the sums run over pixels of 0-255)
    np.testing.assert_allclose(folded(images), expected, atol=1e-5 * np.abs(expected).max())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cnn", "cnn_dropout", "transfer"])
def test_every_variant_exports_a_saved_model_that_predicts_like_keras(
    parameters, photos, mobilenet_weights, tmp_path, name
):
    model_params = dict(parameters[name]["model"])
    if name == "transfer":
        model_params |= backbone_weights(mobilenet_weights)
        images = resized(photos, 96)
    else:
        images = resized(photos, 100, grayscale=True)
    model = build_model(images.shape[1:], model_params)
    model.export(tmp_path / name)  # the SavedModel that the TF.js export converts
    reloaded = tf.saved_model.load(str(tmp_path / name))  # kept: its variables back `serve`
    served = reloaded.serve(tf.constant(images))
    np.testing.assert_allclose(served.numpy(), model.predict(images, verbose=0), atol=1e-5)


def test_bad_architecture_parameters_say_what_is_wrong(mobilenet_weights, tmp_path):
    with pytest.raises(ValueError, match="Unknown architecture 'vit'"):
        build_model((100, 100, 1), {"architecture": "vit"})
    with pytest.raises(ValueError, match="Unknown backbone 'vgg16'"):
        build_backbone("vgg16", (96, 96, 3), None)
    with pytest.raises(ValueError, match="need RGB input, got 1 channel"):
        build_backbone("mobilenet_v2", (96, 96, 1), str(mobilenet_weights))
    with pytest.raises(FileNotFoundError, match=r"missing\.weights\.h5 does not exist"):
        build_backbone("mobilenet_v2", (96, 96, 3), str(tmp_path / "missing.weights.h5"))


def test_the_weights_file_must_have_the_pinned_sha256(mobilenet_weights, tmp_path):
    pinned = file_sha256(mobilenet_weights)
    build_backbone("mobilenet_v2", (96, 96, 3), str(mobilenet_weights), pinned)  # the real file

    other = tmp_path / "other.weights.h5"
    keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(96, 96, 3)
    ).save_weights(other)
    with pytest.raises(ValueError, match=r"set weights_sha256 to [0-9a-f]{64}"):
        build_backbone("mobilenet_v2", (96, 96, 3), str(other), pinned)


def test_the_project_pins_the_sha256_of_its_local_copy(parameters, mobilenet_weights):
    if mobilenet_weights != real_data.SHARED_WEIGHTS:
        pytest.skip("no local copy of the weights: Keras' own copy has other bytes")
    assert file_sha256(mobilenet_weights) == parameters["transfer"]["model"]["weights_sha256"]


def test_auto_weights_are_the_first_local_copy_that_exists(parameters, mobilenet_weights, tmp_path):
    copies = [str(tmp_path / "absent.weights.h5"), str(mobilenet_weights)]
    assert resolve_weights("auto", copies) == str(mobilenet_weights)
    assert resolve_weights(str(mobilenet_weights), []) == str(mobilenet_weights)  # a path as it is
    assert resolve_weights(None, copies) is None
    # The project's default is auto, over a local copy of this file, pinned by its SHA-256.
    transfer = parameters["transfer"]["model"]
    assert transfer["weights"] == "auto"
    assert [Path(p).name for p in transfer["weights_local_copies"]] == [mobilenet_weights.name]


def test_auto_weights_without_a_local_copy_are_keras_own_download(
    mobilenet_weights, tmp_path, caplog
):
    """No local copy: Keras' "imagenet" weights, from its cache (KERAS_HOME), downloaded once."""
    assert resolve_weights("auto", [str(tmp_path / "absent.weights.h5")]) == "imagenet"
    assert "no local copy" in caplog.text
    # What Keras finds in its cache is what the backbone gets: here a file of known weights in
    # Keras' own (legacy .h5) format under the name Keras downloads for a 96x96 MobileNetV2.
    network = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(96, 96, 3)
    )
    network.load_weights(mobilenet_weights)
    cache = tmp_path / "keras_home" / "models"
    cache.mkdir(parents=True)
    network.save(cache / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5")
    script = (
        "import sys, numpy as np\n"
        "from cat_dog_classifier.models import build_backbone\n"
        "backbone = build_backbone('mobilenet_v2', (96, 96, 3), 'auto', None, [sys.argv[1]])\n"
        "np.save(sys.argv[2], backbone.get_layer('backbone').get_weights()[0])\n"
    )
    first_kernel = tmp_path / "first_kernel.npy"
    environment = os.environ | {"KERAS_HOME": str(tmp_path / "keras_home")}
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "absent.weights.h5"), str(first_kernel)],
        env=environment,
        check=True,
        timeout=300,
    )
    np.testing.assert_array_equal(np.load(first_kernel), network.get_weights()[0])
