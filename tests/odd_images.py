"""Real encoded images, good, odd and broken, built from a real photo of ../shared/samples."""

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

PHOTO_SIZE = (120, 90)  # width, height: small, and not square so rotations show


def photo(samples_dir: Path, name: str = "cat/chelsea.png") -> np.ndarray:
    """A real RGB photo, shrunk to PHOTO_SIZE."""
    with Image.open(samples_dir / name) as image:
        return np.asarray(image.convert("RGB").resize(PHOTO_SIZE))


def encode(pixels: np.ndarray | Image.Image, format: str, **options) -> bytes:
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def jpeg(pixels: np.ndarray, orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    return encode(pixels, "JPEG", quality=95, exif=exif)


def jpeg_ending_mid_stream(pixels: np.ndarray) -> bytes:
    """A JPEG whose scan stops halfway at an end-of-image marker: lenient decoders paint it grey."""
    data = bytearray(jpeg(pixels))
    middle = len(data) // 2
    data[middle : middle + 2] = b"\xff\xd9"
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    """A valid-looking PNG of a few bytes whose header claims width x height pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def jpeg_claiming(pixels: np.ndarray, width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) is patched to claim width x height pixels."""
    data = bytearray(encode(pixels, "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)
