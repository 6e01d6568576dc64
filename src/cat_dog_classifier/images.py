"""Decode one image file into 8-bit pixels, or say precisely why it cannot be used.

Ingestion (`check_files`) and preprocessing (`prepare_files`) both decode with the same strict
decoders, so what ingestion accepts is exactly what preprocessing can read. Both run in threads
(`image_source.map_batches`): the decoders, OpenCV and hashlib release the GIL.
"""

import hashlib
import io
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import simplejpeg
from PIL import ExifTags, Image, UnidentifiedImageError

from cat_dog_classifier.image_source import ImageSource

ColorMode = Literal["grayscale", "rgb"]
CHANNELS = {"grayscale": 1, "rgb": 3}

JPEG_FORMATS = frozenset({"JPEG", "MPO"})  # MPO: a camera JPEG followed by extra frames
SUPPORTED_FORMATS = JPEG_FORMATS | {"PNG", "WEBP", "BMP"}
DEFAULT_MAX_PIXELS = 40_000_000

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "cubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}

# EXIF orientation -> Pillow transpose that shows the photo upright (the table ImageOps uses).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_SIDES = frozenset({5, 6, 7, 8})
_TRANSPARENT_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_16_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


class ImageRejected(ValueError):
    """A file that cannot be used as a training image; `reason` is a short code for reports."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DecodedImage:
    """Upright 8-bit pixels, (H, W, 3) RGB or (H, W, 1) grayscale, and the file's own properties."""

    pixels: np.ndarray
    format: str
    width: int  # full-size width once EXIF orientation is applied
    height: int


@dataclass(frozen=True)
class ImageSpec:
    """What preprocessing makes of every photo: its size, colour mode and resize interpolation.

    With `dct_scaling`, a JPEG at least twice as large as the spec on both sides is decoded at
    the smallest DCT scale (1/2, 3/8, 1/4 or 1/8) that is still as large, then resized: faster,
    but no longer the pixels of a full-size decode, which the web page does (measured on the
    shared sample photos: 0 to 4 levels apart on average; tests/test_images.py).
    """

    height: int
    width: int
    color_mode: ColorMode
    interpolation: str
    dct_scaling: bool = False

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.height, self.width, CHANNELS[self.color_mode]


def decode_image(
    data: bytes,
    *,
    color_mode: ColorMode = "rgb",
    at_least: tuple[int, int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DecodedImage:
    """Decode an encoded image strictly: any truncation or corruption raises `ImageRejected`.

    `at_least=(height, width)` lets JPEGs decode at a reduced scale (DCT scaling, still reading
    the whole stream) while staying at least that big; (1, 1) is the cheapest full integrity check.
    The dimensions are checked from the header before any pixel is allocated.
    """
    header = _read_header(data, max_pixels)
    pixels = _decode(data, header, at_least)
    if color_mode == "grayscale":
        pixels = _to_gray(pixels)
    return DecodedImage(
        pixels=pixels, format=header.format, width=header.width, height=header.height
    )


def resize(pixels: np.ndarray, height: int, width: int, interpolation: str) -> np.ndarray:
    """Resize to exactly (height, width) without keeping the aspect ratio, as the study did."""
    resized = cv2.resize(pixels, (width, height), interpolation=INTERPOLATIONS[interpolation])
    return resized.reshape(height, width, pixels.shape[2])


def preprocess_image(data: bytes, spec: ImageSpec) -> np.ndarray:
    """The pixels training sees for one encoded image: upright, converted and resized to `spec`."""
    return _prepare(data, _read_header(data, None), [spec])[0]


def check_file(source: ImageSource, path: str, *, max_pixels: int, min_side: int) -> dict[str, Any]:
    """Hash one file and decode it fully (at the cheapest JPEG scale) to prove it is usable."""
    try:
        data = source.read(path)
    except (OSError, zipfile.BadZipFile, zlib.error) as error:
        return {"reason": "unreadable", "detail": str(error)}
    result: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest()}
    try:
        image = decode_image(data, at_least=(1, 1), max_pixels=max_pixels)
    except ImageRejected as rejection:
        return result | {"reason": rejection.reason, "detail": rejection.detail}
    result |= {"width": image.width, "height": image.height, "format": image.format}
    if min(image.width, image.height) < min_side:
        result |= {"reason": "too_small", "detail": f"a side is under {min_side} pixels"}
    return result


def check_files(
    source: ImageSource, paths: Sequence[str], *, max_pixels: int, min_side: int
) -> list[dict[str, Any]]:
    """`check_file` for each path."""
    return [check_file(source, path, max_pixels=max_pixels, min_side=min_side) for path in paths]


def prepare_files(
    source: ImageSource,
    files: Sequence[tuple[str, str]],
    specs: Sequence[ImageSpec],
    out: Sequence[np.ndarray],
) -> None:
    """Write the pixels of each (path, sha256) file for each spec, as `preprocess_image` makes
    them, into row i of `out[j]` (arrays of at least len(files) rows of `specs[j].shape`).

    A file whose bytes no longer have the sha256 ingestion recorded is refused before it is
    decoded. Each file is read once and decoded once per JPEG scale its specs need (once, unless
    DCT scaling applies). Writing into the caller's arrays lets it reuse them from batch to batch.
    """
    for row, (path, sha256) in enumerate(files):
        data = source.read(path)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(
                f"{path} in {source.location} changed since ingestion: "
                "run `kedro run --pipelines ingest` again."
            )
        try:
            images = _prepare(data, _read_header(data, None), specs)
        except ImageRejected as rejection:  # only if the decoders changed since ingestion
            raise ValueError(
                f"{path} in {source.location} no longer decodes ({rejection}): "
                "run `kedro run --pipelines ingest` again."
            ) from rejection
        for batch, pixels in zip(out, images, strict=True):
            batch[row] = pixels


@dataclass(frozen=True)
class _Header:
    image: Image.Image | None  # opened by Pillow, pixels not loaded yet; None: a plain JPEG
    format: str
    width: int  # once EXIF orientation is applied
    height: int
    orientation: int


def _read_header(data: bytes, max_pixels: int | None) -> _Header:
    if not data:
        raise ImageRejected("empty_file", "the file has zero bytes")
    header = _plain_jpeg_header(data) or _pillow_header(data)
    if max_pixels is not None and header.width * header.height > max_pixels:
        raise ImageRejected(
            "too_large", f"{header.width}x{header.height} exceeds {max_pixels} pixels"
        )
    return header


def _plain_jpeg_header(data: bytes) -> _Header | None:
    """The size of a JPEG with no EXIF (so upright) and no extra frames (so not MPO), read by
    libjpeg-turbo in a few microseconds; None for anything else, which Pillow reads (its
    Python parser costs as much as a third of a small photo's decoding)."""
    if not data.startswith(b"\xff\xd8\xff") or b"Exif\x00\x00" in data or b"MPF\x00" in data:
        return None
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None  # Pillow says what is wrong
    if width * height > Image.MAX_IMAGE_PIXELS:
        return None  # Pillow's decompression-bomb limits apply
    return _Header(None, "JPEG", width, height, 1)


def _pillow_header(data: bytes) -> _Header:
    image = _open_header(data)
    if image.format not in SUPPORTED_FORMATS:
        raise ImageRejected(
            "unsupported_format",
            f"{image.format} is not one of {', '.join(sorted(SUPPORTED_FORMATS))}",
        )
    width, height = image.size
    orientation = _orientation(image)
    if orientation in _SWAPS_SIDES:
        width, height = height, width
    return _Header(image, image.format, width, height, orientation)


def _decode(data: bytes, header: _Header, at_least: tuple[int, int] | None) -> np.ndarray:
    """Upright RGB pixels; `at_least` (upright height, width) only applies to JPEGs."""
    if header.format in JPEG_FORMATS:
        if at_least and header.orientation in _SWAPS_SIDES:
            at_least = at_least[::-1]
        pixels = _decode_jpeg(data, at_least)
    else:
        assert header.image is not None
        pixels = _decode_with_pillow(header.image)
    if header.orientation in _UPRIGHT:
        pixels = _apply_orientation(pixels, header.orientation)
    return pixels


def _prepare(data: bytes, header: _Header, specs: Sequence[ImageSpec]) -> list[np.ndarray]:
    decoded: dict[tuple[int, int] | None, np.ndarray] = {}
    prepared = []
    for spec in specs:
        # Only where it saves at least half of each side: 1/2 is then the largest scale it picks.
        reduce = 2 * spec.height <= header.height and 2 * spec.width <= header.width
        at_least = (spec.height, spec.width) if spec.dct_scaling and reduce else None
        if at_least not in decoded:
            decoded[at_least] = _decode(data, header, at_least)
        pixels = decoded[at_least]
        if spec.color_mode == "grayscale":
            pixels = _to_gray(pixels)
        prepared.append(resize(pixels, spec.height, spec.width, spec.interpolation))
    return prepared


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    # From RGB with OpenCV's weights, whatever the format (as the page does).
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., np.newaxis]


def _open_header(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its two bomb limits; any such size is too large here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise ImageRejected("too_large", str(error)) from error
    except UnidentifiedImageError as error:
        raise ImageRejected("not_an_image", "no known image format recognised") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageRejected("corrupt", f"unreadable header: {error}") from error


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(ExifTags.Base.Orientation, 1))
    except (OSError, ValueError, TypeError, SyntaxError):
        return 1  # unreadable EXIF: keep the pixels as stored


def _decode_jpeg(data: bytes, at_least: tuple[int, int] | None) -> np.ndarray:
    # simplejpeg's strict mode turns libjpeg's warnings (premature end of data, corrupt segment)
    # into errors; Pillow and OpenCV would return the picture with a grey bottom instead.
    min_height, min_width = at_least or (0, 0)
    try:
        return simplejpeg.decode_jpeg(
            data,
            colorspace="RGB",
            min_height=min_height,
            min_width=min_width,
            strict=True,
        )
    except ValueError as error:
        raise ImageRejected("corrupt", str(error)) from error


def _decode_with_pillow(image: Image.Image) -> np.ndarray:
    try:
        image.load()
        return _to_rgb(image)
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageRejected("corrupt", str(error)) from error


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white."""
    if image.mode in _16_BIT_MODES:
        wide = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        gray = ((wide * 255 + 32767) // 65535).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., np.newaxis], 3, axis=2))
    if image.mode in _TRANSPARENT_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    channels = pixels.shape[2]
    plane = pixels[..., 0] if channels == 1 else pixels
    upright = np.asarray(Image.fromarray(plane).transpose(_UPRIGHT[orientation]))
    return upright.reshape(*upright.shape[:2], channels)
