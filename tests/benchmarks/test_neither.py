"""benchmarks/neither.py's pets from elsewhere: which photos it takes from a zip or a folder, and
the camera path it measures them through, on the real sample photos."""

import zipfile
from pathlib import Path

import numpy as np
import pytest

from cat_dog_classifier.images import ImageSpec, preprocess_image
from tests.benchmarks.conftest import load_benchmark


@pytest.fixture(scope="module")
def neither_benchmark():
    return load_benchmark("neither")


def test_pets_elsewhere_are_the_cat_and_dog_photos_of_a_folder_or_a_zip(
    neither_benchmark, samples_dir: Path, tmp_path: Path
):
    from_folder = neither_benchmark.elsewhere_photos(samples_dir)
    names = {Path(name).name: label for name, _, label in from_folder}
    assert names["black_cat.jpg"] == 0 and names["puppy.jpg"] == 1
    assert "guitar.jpg" not in names  # other/: not a pet
    assert sorted(names.values()) == [0] * 3 + [1] * 4

    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        for path in sorted(samples_dir.rglob("*.*")):
            writer.write(path, f"pets/{path.relative_to(samples_dir)}")
    from_zip = neither_benchmark.elsewhere_photos(archive)
    assert [(data, label) for _, data, label in from_zip] == [
        (data, label) for _, data, label in from_folder
    ]


def test_the_camera_path_is_near_the_photo_but_not_the_same(neither_benchmark, samples_dir: Path):
    """Stretched to 640x480 and through 4:2:0 YUV, the page's camera view of a photo stays within a
    few levels of the photo's own preprocessing: colour detail lost, nothing moved."""
    data = (samples_dir / "dog" / "dalmatian.jpg").read_bytes()
    for spec in (ImageSpec(192, 192, "rgb", "area"), ImageSpec(100, 100, "grayscale", "area")):
        camera = neither_benchmark.camera_view(data, spec)
        photo = preprocess_image(data, spec)
        assert camera.shape == photo.shape and camera.dtype == np.uint8
        difference = np.abs(camera.astype(int) - photo)
        assert 0 < difference.mean() < 3, difference.mean()


def test_pets_elsewhere_are_reported_against_the_tests_other_things(neither_benchmark):
    scores = {
        "elsewhere_pets": np.array([0.1, 0.2, 0.9, 0.3]),
        "elsewhere_camera": np.array([0.1, 0.8, 0.9, 0.3]),
        "test_neither": np.array([0.7, 0.95]),
    }
    result = neither_benchmark.elsewhere_results(scores, threshold=0.5)
    assert result["pets elsewhere rejected"] == 0.25
    assert result["via camera"] == 0.5
    assert result["AUROC (elsewhere)"] == pytest.approx(7 / 8)  # 0.9 outranks 0.7 only
    assert neither_benchmark.elsewhere_results({"test_neither": np.ones(2)}, 0.5) == {}


def test_confidence_is_added_on_the_validation_pets_scale(neither_benchmark):
    """Each score is first centred and scaled on the validation pets, so a unit of weight moves a
    photo by one validation spread of confidence whatever the distance's own units."""
    distance = {"validation_pets": np.array([10.0, 12.0, 14.0]), "other": np.array([14.0, 14.0])}
    confidence = {
        "validation_pets": np.array([-9.0, -10.0, -11.0]),
        "other": np.array([-1.0, -10.0]),
    }
    combined = neither_benchmark.with_confidence(distance, confidence, weight=1.0)
    spread_d, spread_c = np.std([10.0, 12.0, 14.0]), np.std([-9.0, -10.0, -11.0])
    assert combined["other"] == pytest.approx([2 / spread_d + 9 / spread_c, 2 / spread_d])
    assert combined["validation_pets"] == pytest.approx(
        [-2 / spread_d + 1 / spread_c, 0, 2 / spread_d - 1 / spread_c]
    )
