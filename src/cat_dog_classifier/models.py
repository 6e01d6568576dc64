"""Every model architecture, built from parameters.

All models take raw 0-255 float pixels of shape (None, H, W, C): rescaling and backbone
preprocessing are layers inside the model, so an exported model needs nothing beyond resize and
colour conversion. The output is one sigmoid unit, the probability of "dog". Augmentation
(augmentation.py) runs in the training input pipeline and never enters a saved model.
"""

import hashlib
import logging
from pathlib import Path
from typing import Any

import keras
from keras import layers

# mean of each ImageNet channel in R, G, B order; ResNet50's "caffe" preprocessing subtracts it
IMAGENET_RGB_MEAN = (123.68, 116.779, 103.939)
AUTO_WEIGHTS = "auto"

logger = logging.getLogger(__name__)


def build_cnn(
    input_shape: tuple[int, int, int],
    *,
    filters: list[int],
    kernel_size: int,
    dense_units: int,
    conv_dropout: float = 0.0,
    dense_dropout: float = 0.0,
) -> keras.Model:
    """The study's network: Conv2D + max-pooling blocks, a hidden Dense layer, a sigmoid output."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    for n_filters in filters:
        x = layers.Conv2D(n_filters, kernel_size, activation="relu")(x)
        x = layers.MaxPooling2D()(x)
        if conv_dropout:
            x = layers.Dropout(conv_dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense_units, activation="relu")(x)
    if dense_dropout:
        x = layers.Dropout(dense_dropout)(x)
    # float32 even under mixed precision, as Keras recommends: a stable sigmoid and loss
    outputs = layers.Dense(1, activation="sigmoid", name="dog_probability", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="cnn")


def resolve_weights(weights: str | None, local_copies: list[str] | None = None) -> str | None:
    """The backbone weights `weights` names on this machine. `auto`: the first of `local_copies`
    that exists, else "imagenet" (Keras' own copy, downloaded into its cache, ~/.keras/models, on
    first use); anything else as it is."""
    if weights != AUTO_WEIGHTS:
        return weights
    copies = [str(path) for path in local_copies or []]
    local = next((path for path in copies if Path(path).is_file()), None)
    if local:
        logger.info("Backbone weights auto: the local copy %s", local)
        return local
    logger.warning(
        "Backbone weights auto: no local copy (%s), so Keras' own ImageNet weights ('imagenet', "
        "downloaded once into ~/.keras/models). They are not the file weights_sha256 pins: "
        "results differ slightly from the README's.",
        copies or "none",
    )
    return "imagenet"


def build_backbone(
    name: str,
    input_shape: tuple[int, int, int],
    weights: str | None,
    weights_sha256: str | None = None,
    weights_local_copies: list[str] | None = None,
) -> keras.Model:
    """An ImageNet backbone without its top that takes raw RGB 0-255 pixels.

    `weights` is `auto` (`resolve_weights`: a local copy, else "imagenet"), "imagenet" (Keras
    downloads its own copy), a path to a `.weights.h5` file of the same architecture, or None
    (random initialisation). A file must have the SHA-256 `weights_sha256` when one is given: the
    parameter is how DVC sees the weights' content.
    """
    weights = resolve_weights(weights, weights_local_copies)
    if input_shape[-1] != 3:
        raise ValueError(f"ImageNet backbones need RGB input, got {input_shape[-1]} channel(s)")
    if name == "mobilenet_v2":
        application = keras.applications.MobileNetV2
        preprocessing = layers.Rescaling(1.0 / 127.5, offset=-1.0)  # mobilenet_v2.preprocess_input
    elif name == "resnet50":
        application = keras.applications.ResNet50
        # resnet50.preprocess_input subtracts the mean and swaps RGB to BGR; the swap is folded
        # into the first convolution below, which keeps Lambda layers out (TF.js, safe loading).
        preprocessing = layers.Normalization(mean=IMAGENET_RGB_MEAN, variance=(1.0, 1.0, 1.0))
    else:
        raise ValueError(f"Unknown backbone {name!r}: use 'mobilenet_v2' or 'resnet50'")

    from_file = weights not in (None, "imagenet")
    if from_file:
        check_weights_file(Path(weights), weights_sha256)
    network = application(
        include_top=False,
        weights=None if from_file else weights,
        input_shape=input_shape,
        name="backbone",
    )
    if from_file:
        network.load_weights(weights)
    if name == "resnet50" and weights is not None:
        first_conv = network.get_layer("conv1_conv")
        kernel, bias = first_conv.get_weights()
        first_conv.set_weights([kernel[:, :, ::-1, :], bias])  # BGR-trained kernel now reads RGB

    inputs = keras.Input(shape=input_shape, name="image")
    # training=False keeps batch normalisation in inference mode, also while fine-tuning
    features = network(preprocessing(inputs), training=False)
    pooled = layers.GlobalAveragePooling2D(name="pooled_features")(features)
    return keras.Model(inputs, pooled, name=f"{name}_features")


def check_weights_file(path: Path, sha256: str | None) -> None:
    """Fail unless `path` exists and, when `sha256` is given, has exactly that content."""
    if not path.is_file():
        raise FileNotFoundError(f"Backbone weights file {path} does not exist")
    if sha256 is None:
        return
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != sha256:
        raise ValueError(
            f"Backbone weights file {path} has SHA-256 {actual}, but the parameters pin "
            f"weights_sha256: {sha256}. If the new file is intended, set weights_sha256 to "
            f"{actual} (DVC then retrains the variant); otherwise restore the file."
        )


def build_head(feature_dim: int, dropout: float) -> keras.Model:
    """The small classifier put on top of the backbone's pooled features."""
    inputs = keras.Input(shape=(feature_dim,), name="features")
    x = layers.Dropout(dropout)(inputs) if dropout else inputs
    # float32 even under mixed precision, as Keras recommends: a stable sigmoid and loss
    outputs = layers.Dense(1, activation="sigmoid", name="dog_probability", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="head")


def build_transfer(
    input_shape: tuple[int, int, int],
    *,
    backbone: str,
    weights: str | None,
    head_dropout: float,
    weights_sha256: str | None = None,
    weights_local_copies: list[str] | None = None,
) -> tuple[keras.Model, keras.Model, keras.Model]:
    """Backbone + head. Returns (model, backbone, head) with the layers shared, so the head can be
    trained on cached backbone features and the full model used (and fine-tuned) afterwards."""
    feature_extractor = build_backbone(
        backbone, input_shape, weights, weights_sha256, weights_local_copies
    )
    head = build_head(feature_extractor.output.shape[-1], head_dropout)
    model = keras.Model(
        feature_extractor.input, head(feature_extractor.output), name=f"transfer_{backbone}"
    )
    return model, feature_extractor, head


def build_model(input_shape: tuple[int, int, int], model_params: dict[str, Any]) -> keras.Model:
    """The model a variant's `model` parameters describe (`architecture`: cnn or transfer)."""
    params = dict(model_params)
    architecture = params.pop("architecture")
    if architecture == "cnn":
        return build_cnn(input_shape, **params)
    if architecture == "transfer":
        return build_transfer(input_shape, **params)[0]
    raise ValueError(f"Unknown architecture {architecture!r}: use 'cnn' or 'transfer'")


def fold_batch_normalization(model: keras.Model) -> keras.Model:
    """A copy of `model` (nested models included) in which every BatchNormalization that is the only
    consumer of a convolution is folded into that convolution's kernel and bias, and becomes an
    Identity. Inference only: batch normalisation then uses its moving statistics, which is what
    the folded weights compute. `model` itself is left unchanged.

    TF.js's converter folds a batch normalisation into a Conv2D but not into a depthwise one: in
    MobileNetV2 each depthwise convolution then runs as three kernels (convolution, multiply, add)
    instead of one convolution fused with its bias and ReLU6.
    """
    folded = {id(bn): conv for conv, bn in _conv_batch_norm_pairs(model)}
    convs = set(map(id, folded.values()))
    clones: list[tuple[keras.layers.Layer, keras.layers.Layer]] = []
    dropped: set[int] = set()

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if id(layer) in convs:
            config["use_bias"] = True
        copy = layer.__class__.from_config(config)
        clones.append((layer, copy))
        if id(layer) in folded:
            dropped.add(id(copy))
        return copy

    def call(layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
        return args[0] if id(layer) in dropped else layer(*args, **kwargs)

    copy = keras.models.clone_model(model, clone_function=clone, call_function=call, recursive=True)
    batch_norm_of = {id(conv): bn for conv, bn in _conv_batch_norm_pairs(model)}
    for layer, layer_copy in clones:
        if id(layer) in folded or not isinstance(layer, keras.layers.Layer):
            continue  # never called, or an operation such as `x + y`: no weights to set
        if id(layer) in batch_norm_of:
            layer_copy.set_weights(_folded_weights(layer, batch_norm_of[id(layer)]))
        else:
            layer_copy.set_weights(layer.get_weights())
    return copy


def _conv_batch_norm_pairs(
    model: keras.Model,
) -> list[tuple[keras.layers.Layer, layers.BatchNormalization]]:
    """(convolution, batch normalisation) pairs of `model` and its nested models that fold: the
    batch normalisation on the channels axis, called once, on the output of a linear convolution
    that nothing else reads."""
    pairs = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            pairs += _conv_batch_norm_pairs(layer)
            continue
        if not isinstance(layer, layers.BatchNormalization) or len(layer._inbound_nodes) != 1:
            continue
        conv = layer.input._keras_history.operation
        if (
            isinstance(conv, (layers.Conv2D, layers.DepthwiseConv2D))
            and conv.data_format == "channels_last"
            and layer.axis in (-1, 3)
            and conv.activation is keras.activations.linear
            and len(conv._inbound_nodes) == 1
            and len(conv._outbound_nodes) == 1
        ):
            pairs.append((conv, layer))
    return pairs


def _folded_weights(conv: keras.layers.Layer, bn: layers.BatchNormalization) -> list:
    """The kernel and bias of `conv` followed by `bn` in inference mode, computed in float64."""
    weights = [w.astype("float64") for w in conv.get_weights()]
    kernel = weights[0]
    bias = weights[1] if conv.use_bias else 0.0
    mean = bn.moving_mean.numpy().astype("float64")
    variance = bn.moving_variance.numpy().astype("float64")
    gamma = bn.gamma.numpy().astype("float64") if bn.scale else 1.0
    beta = bn.beta.numpy().astype("float64") if bn.center else 0.0
    scale = gamma / (variance + bn.epsilon) ** 0.5
    if isinstance(conv, layers.DepthwiseConv2D):  # kernel (h, w, in, multiplier): out = in * mult
        folded_kernel = (kernel.reshape(*kernel.shape[:2], -1) * scale).reshape(kernel.shape)
    else:  # kernel (h, w, in, out)
        folded_kernel = kernel * scale
    folded_bias = (bias - mean) * scale + beta
    dtype = conv.get_weights()[0].dtype
    return [folded_kernel.astype(dtype), folded_bias.astype(dtype)]
