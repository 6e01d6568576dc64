"""benchmarks/scale.py: the photos k times over, each copy kept by ingestion (none a duplicate), and
the stages measured per scale in a clone, one row per stage and scale."""

import hashlib
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cat_dog_classifier.pipelines.ingest.nodes import (
    MANIFEST_COLUMNS,
    inspect_images,
    reject_duplicates,
)
from tests.benchmarks.conftest import load_benchmark
from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def scale():
    return load_benchmark("scale")


def ingest(source: Path) -> pd.DataFrame:
    """The manifest the ingest pipeline's nodes make of `source`, with the project's parameters."""
    settings = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_ingest.yml").read_text())
    no_other_things = pd.DataFrame(columns=MANIFEST_COLUMNS)
    return reject_duplicates(inspect_images(str(source), settings["ingest"]), no_other_things)


def test_the_first_photos_come_from_every_folder_in_natural_order(scale):
    paths = ["P/Cat/10.jpg", "P/Cat/2.jpg", "P/Cat/1.jpg", "P/Dog/1.jpg", "P/Dog/3.jpg"]
    assert scale.first_photos(paths, 3) == ["P/Cat/1.jpg", "P/Cat/2.jpg", "P/Dog/1.jpg"]
    assert scale.first_photos(paths, None) == sorted(paths)


def test_each_copy_is_a_new_photo_to_ingestion(scale, petimages_zip: Path, tmp_path: Path):
    sources = scale.build_sources(petimages_zip, [1, 3], tmp_path, limit=12)
    with zipfile.ZipFile(sources[3]) as archive:
        hashes = [hashlib.sha256(archive.read(name)).hexdigest() for name in archive.namelist()]
    assert len(hashes) == 36
    assert len(set(hashes)) == 36  # no two files byte-identical

    once, thrice = ingest(sources[1]), ingest(sources[3])
    assert (once["status"] == "ok").sum() == 12
    assert (thrice["status"] == "ok").sum() == 36  # none rejected, as duplicate or otherwise
    originals = once.set_index("path")
    for copy in (1, 2):
        copies = thrice[thrice["path"].str.startswith(f"copy{copy}/")]
        copies = copies.assign(path=copies["path"].str.removeprefix(f"copy{copy}/"))
        copies = copies.set_index("path").loc[originals.index]
        for column in ("label", "width", "height"):  # same label, same size
            assert copies[column].tolist() == originals[column].tolist()
    # built once: a second call with the same source and limit reuses the zips
    built = sources[3].stat().st_mtime_ns
    assert scale.build_sources(petimages_zip, [1, 3], tmp_path, limit=12) == sources
    assert sources[3].stat().st_mtime_ns == built


@pytest.mark.slow
def test_each_stage_is_measured_at_each_scale(scale, petimages_zip: Path, tmp_path: Path):
    output = tmp_path / "scale.md"
    arguments = ["--source", str(petimages_zip), "--limit", "200", "--scales", "1", "2"]
    arguments += ["--variants", "cnn", "--no-neither", "--work-dir", str(tmp_path / "work")]
    measurements = scale.main([*arguments, "--keep", "--output", str(output)])

    stages = ["ingest", "preprocess", "train@cnn"]
    assert [(m.stage, m.scale) for m in measurements] == [(s, k) for k in (1, 2) for s in stages]
    for m in measurements:
        assert m.photos == 200 * m.scale
        assert m.wall_s > 0 and m.cpu_s > 0
        assert m.peak_rss > m.peak_anonymous > 0
    text = output.read_text()
    for m in measurements:
        assert f"| {m.stage} | {m.scale}x | {m.photos:,} | {m.wall_s:.1f} |" in text
    assert "## Which memory grows with the photos" in text

    # what ingestion made of the 2x photos, in the kept clone: every copy usable, none a duplicate
    clone = tmp_path / "work" / "x2" / scale.PROJECT_ROOT.name
    manifest = pd.read_parquet(clone / "data/02_intermediate/image_manifest.parquet")
    assert len(manifest) == 400
    assert (manifest["status"] == "ok").all()
    assert manifest["sha256"].is_unique
