"""Data augmentation for training, with OpenCV: random flips, rotations, zoom and contrast.

It runs in the training input pipeline (`training.make_dataset`), never in a saved model (TF.js has
no random layers). The parameters mean what they mean for Keras' RandomRotation, RandomZoom and
RandomContrast layers, which it replaced: the flip, rotation and zoom of a photo are one affine
warp (reflected borders, bilinear: one interpolation where Keras made two), its contrast one NumPy
expression. The layers ran as TensorFlow ops one batch at a time (for reproducible draws) and
slowed `cnn_dropout_aug`'s training by about a tenth; OpenCV does the same work in the input
pipeline's generator for far less (README: Benchmarks, Training).
"""

from collections.abc import Mapping

import cv2
import numpy as np


def augment(
    images: np.ndarray, params: Mapping[str, float], rng: np.random.Generator
) -> np.ndarray:
    """Float32 copies of `images` (N, H, W, C; 0-255), each mirrored left-right with probability
    1/2, rotated by up to `rotation` of a full turn either way, zoomed by a factor between
    1 - `zoom` (in) and 1 + `zoom` (out), and its contrast scaled by a factor between
    1 - `contrast` and 1 + `contrast` about its mean, clipped to 0-255. Draws come from `rng`."""
    count, height, width = images.shape[:3]
    mirrored = rng.random(count) < 0.5
    degrees = rng.uniform(-1.0, 1.0, count) * params["rotation"] * 360
    zooms = 1 + rng.uniform(-1.0, 1.0, count) * params["zoom"]
    contrasts = 1 + rng.uniform(-1.0, 1.0, count) * params["contrast"]
    centre = ((width - 1) / 2, (height - 1) / 2)
    augmented = np.empty(images.shape, np.float32)
    for i, image in enumerate(images):
        # Where each output pixel reads the photo: turned and scaled about the centre (a zoom
        # factor above 1 reads a larger area: zooms out), then mirrored.
        # (A positive angle turns the photo counter-clockwise, as in Keras: OpenCV's angle, which
        # maps the output onto the photo here, turns the other way.)
        matrix = cv2.getRotationMatrix2D(centre, -degrees[i], zooms[i])
        if mirrored[i]:
            matrix[0] = -matrix[0]
            matrix[0, 2] += width - 1
        warped = cv2.warpAffine(
            image.astype(np.float32),
            matrix,
            (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,  # Keras' fill_mode="reflect": d c b a | a b c d
        ).reshape(image.shape)  # OpenCV drops a single channel's axis
        mean = warped.mean(axis=(0, 1))
        augmented[i] = np.clip((warped - mean) * contrasts[i] + mean, 0, 255)
    return augmented
