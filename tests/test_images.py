"""decode_image on real encoded images: every odd or broken kind is converted or rejected; and
the preprocessing built on it."""

import hashlib
import io
import zipfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cat_dog_classifier.image_source import ImageSource
from cat_dog_classifier.images import (
    ImageRejected,
    ImageSpec,
    decode_image,
    prepare_files,
    preprocess_image,
    resize,
)
from tests import odd_images

WIDTH, HEIGHT = odd_images.PHOTO_SIZE


@pytest.fixture(scope="module")
def pixels(samples_dir: Path) -> np.ndarray:
    return odd_images.photo(samples_dir)


def rejection(data: bytes, **options) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        decode_image(data, **options)
    return caught.value


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_every_shared_sample_decodes_to_rgb(samples_dir: Path) -> None:
    photos = sorted(path for path in samples_dir.glob("*/*") if path.suffix != ".md")
    assert len(photos) == 10
    for path in photos:
        decoded = decode_image(path.read_bytes())
        with Image.open(path) as image:
            assert (decoded.width, decoded.height) == image.size
        assert decoded.pixels.shape == (decoded.height, decoded.width, 3)
        assert decoded.pixels.dtype == np.uint8


def test_jpeg_decodes_like_opencv_in_rgb_order(pixels: np.ndarray) -> None:
    data = odd_images.jpeg(pixels)
    decoded = decode_image(data)
    opencv = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert decoded.format == "JPEG"
    assert (decoded.width, decoded.height) == (WIDTH, HEIGHT)
    assert mean_difference(decoded.pixels, opencv) < 1.0
    assert mean_difference(decoded.pixels, opencv[..., ::-1]) > 5.0  # so BGR would be caught


def test_grayscale_uses_opencv_weights_on_rgb(pixels: np.ndarray) -> None:
    data = odd_images.jpeg(pixels)
    gray = decode_image(data, color_mode="grayscale").pixels
    assert gray.shape == (HEIGHT, WIDTH, 1)
    np.testing.assert_array_equal(
        gray[..., 0], cv2.cvtColor(decode_image(data).pixels, cv2.COLOR_RGB2GRAY)
    )


def test_at_least_decodes_a_jpeg_smaller_but_never_below_the_request(pixels: np.ndarray) -> None:
    decoded = decode_image(odd_images.jpeg(pixels), at_least=(40, 50))
    assert decoded.pixels.shape[:2] == (45, 60)  # the 1/2 DCT scale; 1/4 would be too small
    assert (decoded.width, decoded.height) == (WIDTH, HEIGHT)  # the file's own size


def test_jpegs_without_exif_are_sized_without_pillow(
    pixels: np.ndarray, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libjpeg-turbo reads their header (Pillow's Python parser costs a third of decoding a
    small photo) and gives Pillow's answer; a broken one still gets its reason."""
    photos = [path.read_bytes() for path in sorted(samples_dir.glob("*/*.jp*g"))]
    photos.append(odd_images.encode(pixels, "JPEG"))
    sizes = []
    for data in photos:
        with Image.open(io.BytesIO(data)) as image:
            sizes.append((image.format, *image.size))

    def refuse(*args, **kwargs):
        raise AssertionError("Pillow parsed the header")

    monkeypatch.setattr(Image, "open", refuse)
    for data, size in zip(photos, sizes, strict=True):
        decoded = decode_image(data, at_least=(1, 1))
        assert (decoded.format, decoded.width, decoded.height) == size
    assert rejection(photos[0][: len(photos[0]) // 2]).reason == "corrupt"
    with pytest.raises(AssertionError, match="Pillow"):
        decode_image(odd_images.jpeg(pixels, orientation=6))  # EXIF: Pillow reads it


def test_exif_orientation_is_applied(pixels: np.ndarray) -> None:
    decoded = decode_image(odd_images.jpeg(pixels, orientation=6))  # "rotate 90 clockwise"
    clockwise = np.rot90(pixels, k=-1)
    assert (decoded.width, decoded.height) == (HEIGHT, WIDTH)
    assert decoded.pixels.shape == clockwise.shape
    assert mean_difference(decoded.pixels, clockwise) < 3.0
    assert mean_difference(decoded.pixels, np.rot90(pixels, k=1)) > 20.0


def test_exif_orientation_swaps_the_reduced_size_request(pixels: np.ndarray) -> None:
    decoded = decode_image(odd_images.jpeg(pixels, orientation=6), at_least=(50, 40))
    assert decoded.pixels.shape[:2] == (60, 45)


def test_png_named_anything_is_read_by_content(pixels: np.ndarray) -> None:
    decoded = decode_image(odd_images.encode(pixels, "PNG"))
    assert decoded.format == "PNG"
    np.testing.assert_array_equal(decoded.pixels, pixels)


@pytest.mark.parametrize("format", ["BMP", "WEBP"])
def test_other_supported_formats(pixels: np.ndarray, format: str) -> None:
    decoded = decode_image(odd_images.encode(pixels, format, lossless=True))
    assert decoded.format == format
    np.testing.assert_array_equal(decoded.pixels, pixels)


def test_grayscale_jpeg_becomes_rgb(pixels: np.ndarray) -> None:
    gray = Image.fromarray(pixels).convert("L")
    decoded = decode_image(odd_images.encode(gray, "JPEG", quality=95)).pixels
    assert decoded.shape == (HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(decoded[..., 0], decoded[..., 2])
    assert mean_difference(decoded[..., 0], np.asarray(gray)) < 2.0


def test_cmyk_jpeg_becomes_the_same_rgb(pixels: np.ndarray) -> None:
    cmyk = Image.fromarray(pixels).convert("CMYK")
    decoded = decode_image(odd_images.encode(cmyk, "JPEG", quality=95)).pixels
    assert mean_difference(decoded, pixels) < 4.0


def test_transparency_is_composited_on_white(pixels: np.ndarray) -> None:
    rgba = np.dstack([pixels, np.full((HEIGHT, WIDTH), 255, np.uint8)])
    rgba[:, : WIDTH // 2, 3] = 0  # left half fully transparent
    decoded = decode_image(odd_images.encode(rgba, "PNG")).pixels
    assert (decoded[:, : WIDTH // 2] == 255).all()
    np.testing.assert_array_equal(decoded[:, WIDTH // 2 :], pixels[:, WIDTH // 2 :])


def test_palette_with_transparency_is_composited_on_white(pixels: np.ndarray) -> None:
    palette = Image.fromarray(pixels).quantize(16)
    palette.info["transparency"] = 0
    decoded = decode_image(odd_images.encode(palette, "PNG", transparency=0)).pixels
    transparent = np.asarray(palette) == 0
    assert transparent.any()
    assert (decoded[transparent] == 255).all()


def test_palette_and_one_bit_images_become_rgb(pixels: np.ndarray) -> None:
    for image in (Image.fromarray(pixels).quantize(64), Image.fromarray(pixels).convert("1")):
        decoded = decode_image(odd_images.encode(image, "PNG")).pixels
        np.testing.assert_array_equal(decoded, np.asarray(image.convert("RGB")))


def test_16_bit_grayscale_is_scaled_to_8_bit() -> None:
    levels = np.array([[0, 257, 32768, 65535]], dtype=np.uint16).repeat(40, axis=0)
    image = Image.fromarray(levels)
    assert image.mode == "I;16"
    decoded = decode_image(odd_images.encode(image, "PNG")).pixels
    np.testing.assert_array_equal(decoded[0, :, 0], [0, 1, 128, 255])
    assert decoded.dtype == np.uint8


def test_zero_bytes_are_rejected() -> None:
    assert rejection(b"").reason == "empty_file"


@pytest.mark.parametrize(
    "data", [b"hello, I am a text file", b"<html><body>404</body></html>", bytes(range(256)) * 8]
)
def test_non_images_are_rejected(data: bytes) -> None:
    assert rejection(data).reason == "not_an_image"


def test_truncated_jpeg_is_rejected(pixels: np.ndarray) -> None:
    data = odd_images.jpeg(pixels)
    assert rejection(data[: len(data) // 2]).reason == "corrupt"
    assert rejection(data[: len(data) // 2], at_least=(1, 1)).reason == "corrupt"


def test_jpeg_that_lenient_decoders_paint_grey_is_rejected(pixels: np.ndarray) -> None:
    data = odd_images.jpeg_ending_mid_stream(pixels)
    lenient = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))  # Pillow "succeeds"...
    assert (lenient[-1] == 128).all()  # ...with a grey bottom
    assert rejection(data).reason == "corrupt"
    assert rejection(data, at_least=(1, 1)).reason == "corrupt"


def test_truncated_png_is_rejected(pixels: np.ndarray) -> None:
    data = odd_images.encode(pixels, "PNG")
    assert rejection(data[: len(data) // 2]).reason == "corrupt"


@pytest.mark.parametrize("format", ["GIF", "TIFF", "ICO"])
def test_unsupported_formats_are_rejected(pixels: np.ndarray, format: str) -> None:
    refused = rejection(odd_images.encode(pixels, format))
    assert refused.reason == "unsupported_format"
    assert format in refused.detail


@pytest.mark.parametrize(
    "data_for",
    [
        lambda pixels: odd_images.png_claiming(100_000, 100_000),
        lambda pixels: odd_images.jpeg_claiming(pixels, 65_000, 65_000),
        lambda pixels: odd_images.png_claiming(10_000, 10_000),  # in Pillow's warning band
    ],
)
def test_decompression_bombs_are_rejected_from_the_header(pixels: np.ndarray, data_for) -> None:
    data = data_for(pixels)
    assert len(data) < 10_000  # a few bytes claiming billions of pixels
    assert rejection(data).reason == "too_large"


def test_max_pixels_is_a_parameter(pixels: np.ndarray) -> None:
    data = odd_images.jpeg(pixels)
    assert rejection(data, max_pixels=WIDTH * HEIGHT - 1).reason == "too_large"
    assert decode_image(data, max_pixels=WIDTH * HEIGHT).width == WIDTH


@pytest.mark.parametrize("channels", [1, 3])
def test_resize_keeps_the_channel_axis(channels: int) -> None:
    image = np.zeros((90, 120, channels), np.uint8)
    assert resize(image, 100, 100, "linear").shape == (100, 100, channels)
    assert resize(image, 160, 200, "area").shape == (160, 200, channels)


GRAY100 = ImageSpec(100, 100, "grayscale", "area")
RGB160 = ImageSpec(160, 160, "rgb", "area")


def sample_photos(samples_dir: Path) -> list[Path]:
    return sorted(path for path in samples_dir.glob("*/*") if path.suffix != ".md")


def full_size_then_resized(data: bytes, spec: ImageSpec) -> np.ndarray:
    pixels = decode_image(data, color_mode=spec.color_mode).pixels
    return resize(pixels, spec.height, spec.width, spec.interpolation)


@pytest.mark.parametrize("spec", [GRAY100, RGB160])
def test_preprocessing_decodes_at_full_size_then_resizes(samples_dir: Path, spec) -> None:
    for path in sample_photos(samples_dir):
        data = path.read_bytes()
        np.testing.assert_array_equal(
            preprocess_image(data, spec), full_size_then_resized(data, spec), path.name
        )


def test_dct_scaling_applies_to_jpegs_twice_as_large_as_the_spec(samples_dir: Path) -> None:
    """puppy.jpg is 640x512: scaled for 100x100 (to 1/4: 160x128), not for 300x300 (over half)."""
    data = (samples_dir / "dog" / "puppy.jpg").read_bytes()
    scaled = replace(GRAY100, dct_scaling=True)
    assert not np.array_equal(preprocess_image(data, scaled), full_size_then_resized(data, scaled))
    np.testing.assert_array_equal(
        preprocess_image(data, scaled),
        resize(
            decode_image(data, color_mode="grayscale", at_least=(100, 100)).pixels, 100, 100, "area"
        ),
    )
    large = ImageSpec(300, 300, "rgb", "area", dct_scaling=True)
    np.testing.assert_array_equal(
        preprocess_image(data, large), full_size_then_resized(data, large)
    )
    png = (samples_dir / "cat" / "chelsea.png").read_bytes()  # 451x300, DCT scaling is for JPEG
    np.testing.assert_array_equal(
        preprocess_image(png, scaled), full_size_then_resized(png, scaled)
    )


@pytest.mark.parametrize("spec", [GRAY100, RGB160])
def test_dct_scaling_moves_pixels_a_few_levels_from_the_full_size_decode(
    samples_dir: Path, spec: ImageSpec
) -> None:
    """What training with `jpeg_dct_scaling` gives up against the page's full-size decode, on
    photos of 217 to 640 pixels (measured: 0 to 3.96 levels on average per photo, single pixels
    at sharp edges up to 120)."""
    differences = {}
    for path in sample_photos(samples_dir):
        data = path.read_bytes()
        scaled = preprocess_image(data, replace(spec, dct_scaling=True)).astype(np.int16)
        differences[path.name] = np.abs(scaled - full_size_then_resized(data, spec)).mean()
    assert max(differences.values()) <= 4.5, differences
    assert sum(value > 0 for value in differences.values()) >= 6  # most photos are scaled


def test_prepare_files_writes_each_spec_of_the_files_ingestion_hashed(
    samples_dir: Path, tmp_path: Path
) -> None:
    photos = sample_photos(samples_dir)
    broken = photos[0].read_bytes()[:500]
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in photos:
            zipped.write(path, path.name)
        zipped.writestr("broken.jpg", broken)
    files = [(path.name, hashlib.sha256(path.read_bytes()).hexdigest()) for path in photos]
    specs = [RGB160, replace(GRAY100, dct_scaling=True)]
    out = [np.zeros((len(files) + 2, *spec.shape), np.uint8) for spec in specs]
    with ImageSource(archive) as source:
        prepare_files(source, files, specs, out)
        with pytest.raises(ValueError, match=r"photos.zip changed since ingestion"):
            prepare_files(source, [(photos[1].name, files[0][1])], specs, out)
        with pytest.raises(ValueError, match=r"broken.jpg in .*photos.zip no longer decodes"):
            prepare_files(source, [("broken.jpg", hashlib.sha256(broken).hexdigest())], specs, out)
    for row, path in enumerate(photos):
        for batch, spec in zip(out, specs, strict=True):
            np.testing.assert_array_equal(batch[row], preprocess_image(path.read_bytes(), spec))
    assert not out[0][len(files) :].any()  # rows past the batch are left alone
