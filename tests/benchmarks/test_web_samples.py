"""benchmarks/web_samples.py: which photos it shows the page, and what it expects of each."""

from pathlib import Path

import pytest

from tests.benchmarks.conftest import load_benchmark
from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def web_samples():
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(PROJECT_ROOT / "benchmarks"))  # it imports web_latency
        yield load_benchmark("web_samples")


def test_each_photo_is_expected_to_be_what_its_folder_says(web_samples, samples_dir: Path):
    shown = web_samples.photos_to_show([samples_dir / "dog" / "puppy.jpg", samples_dir / "other"])
    assert [(expected, photo.name) for expected, photo in shown] == [
        ("dog", "puppy.jpg"),
        ("other", "guitar.jpg"),
        ("other", "sunrise.jpg"),
        ("other", "tent.jpg"),
    ]
    everything = web_samples.photos_to_show([samples_dir])
    assert (
        sorted(expected for expected, _ in everything) == ["cat"] * 3 + ["dog"] * 4 + ["other"] * 3
    )


def test_a_photo_outside_cat_dog_or_other_is_refused(web_samples, tmp_path: Path):
    photo = tmp_path / "pets" / "rex.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"not looked at")
    with pytest.raises(SystemExit, match="no folder named cat, dog or other"):
        web_samples.photos_to_show([photo])
