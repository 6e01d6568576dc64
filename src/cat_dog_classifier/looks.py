"""The same photos in other looks: sharper, softer, re-compressed, framed closer, noisier.

PetImages' copy in ../shared is 180x180 thumbnails re-encoded at JPEG quality 75, stretched to the
model's 192x192: soft and blocky. A camera frame or a phone's photo is sharp, and the third answer,
fitted on the thumbnails' features alone, took that look for part of "no pet" (issue: pets from
elsewhere answered "No cat or dog"). These transformations give the features of the same pets in
other looks, to fit and choose a detector that does not read the look; benchmarks/neither.py
measures what each buys. They change how a photo is taken and stored, never what it shows.
"""

from collections.abc import Callable

import cv2
import numpy as np

Look = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def sharpened(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An unsharp mask (radius 0.8-2 px, amount 0.5-1.5): what detail a thumbnail kept, stressed."""
    amount = rng.uniform(0.5, 1.5)
    blurred = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 2.0)).reshape(image.shape)
    return cv2.addWeighted(image, 1 + amount, blurred, -amount, 0).reshape(image.shape)


def recompressed(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Saved as a JPEG once more, at quality 30-95."""
    quality = int(rng.integers(30, 96))
    colour = image.shape[-1] == 3  # OpenCV's JPEG codec reads and writes BGR
    _, encoded = cv2.imencode(
        ".jpg", image[..., ::-1] if colour else image, [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return (decoded[..., ::-1] if colour else decoded).reshape(image.shape)


def softened(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shrunk to 37-83% of its side and stretched back: a smaller photo's detail."""
    height, width = image.shape[:2]
    scale = rng.uniform(0.37, 0.83)
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    shrunk = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
    return cv2.resize(shrunk, (width, height), interpolation=cv2.INTER_LINEAR).reshape(image.shape)


def cropped(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """55-100% of its area, of an aspect up to 1.3 either way, stretched back: framed closer."""
    height, width = image.shape[:2]
    area, aspect = rng.uniform(0.55, 1.0), np.exp(rng.uniform(-0.25, 0.25))
    crop_width = min(width, round(width * np.sqrt(area * aspect)))
    crop_height = min(height, round(height * np.sqrt(area / aspect)))
    left = int(rng.integers(0, width - crop_width + 1))
    top = int(rng.integers(0, height - crop_height + 1))
    crop = image[top : top + crop_height, left : left + crop_width]
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR).reshape(image.shape)


def noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of 2-8 levels: a small sensor in dim light."""
    noise = rng.normal(0.0, rng.uniform(2.0, 8.0), image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


SINGLE_LOOKS: tuple[Look, ...] = (sharpened, recompressed, softened, cropped, noisy)


def mixed(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two or three of the single looks, in a random order."""
    for index in rng.permutation(len(SINGLE_LOOKS))[: int(rng.integers(2, 4))]:
        image = SINGLE_LOOKS[index](image, rng)
    return image


LOOKS: dict[str, Look] = {look.__name__: look for look in (*SINGLE_LOOKS, mixed)}


def in_look(images: np.ndarray, look: str, seed: int) -> np.ndarray:
    """A copy of `images` (N, H, W, C uint8, RGB or gray) with each photo in `look` (a key of
    LOOKS), its draws seeded by `seed`."""
    if look not in LOOKS:
        raise ValueError(f"Unknown look {look!r}: use one of {sorted(LOOKS)}")
    rng = np.random.default_rng(seed)
    transform = LOOKS[look]
    return np.stack([transform(np.ascontiguousarray(image), rng) for image in images])
