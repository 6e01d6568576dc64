"""The third answer on the page: a model exported with a `neither_score` output next to P(dog),
its manifest naming the output and the threshold; "No cat or dog" at and above it.

The small test project ships `transfer` with its detector (test_parity.py and test_camera.py check
both outputs against Keras), but fitted on 240 pets it flags none of the sample photos of other
things at its calibrated threshold (their scores: 0.000-0.009; the pets': 0.002-0.40). So this
module exports a model whose score does cross a threshold, with the project's own code on that
project: the `cnn` variant's detector (`fit_detector` with `transfer`'s settings, on the variant's
training photos), `with_neither_output`, then the export node (`export_tfjs_models`: named
outputs; float32, as `transfer` ships). Its threshold is set, as a user may set it, between the
scores of an "other" photo and a pet photo (Keras's scores of this very model on the camera's
frames): the page must answer "No cat or dog" for the one and not for the other, through the fake
camera, from the model's real second output.
"""

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from playwright.sync_api import Browser, expect

from tests.conftest import SmallProject

from .conftest import ServedPage, camera_video, copy_page, serve, y4m_rgb
from .pages import (
    TOLERANCE,
    frame_pixels,
    open_model,
    open_page,
    page_predict,
    sample_photos,
    snapshot,
    training_input,
    training_pixels,
    upload,
    wait_for_frames,
)

VARIANT = "cnn"


# The page's camera path against training's preprocessing of the same frame: a pixel may differ by
# up to two levels (test_camera.py), which moved P(dog) by up to 0.003.
CAMERA_TOLERANCE = 0.01


@dataclass(frozen=True)
class NeitherExport:
    page: ServedPage
    keras_scores: dict[str, tuple[float, float]]  # photo name -> Keras's (P(dog), neither_score)
    other_video: Path  # the camera showing a photo of something else, scoring above the threshold
    pet_video: Path  # the camera showing a pet, scoring below it


def widest_split(scores: dict[Path, float]) -> tuple[Path, Path]:
    """The "other" photo and the pet photo that score highest above it: a threshold between the
    two says "No cat or dog" for the one and not for the other."""
    others = [photo for photo in scores if photo.parent.name == "other"]
    pets = [photo for photo in scores if photo.parent.name != "other"]
    pairs = [(o, p) for o in others for p in pets if scores[o] > scores[p]]
    assert pairs, f"every photo of something else scores below every pet: {scores}"
    return max(pairs, key=lambda pair: scores[pair[0]] - scores[pair[1]])


@pytest.fixture(scope="session")
def neither_export(
    trained_project: SmallProject,
    tmp_path_factory: pytest.TempPathFactory,
    samples_dir: Path,
) -> Iterator[NeitherExport]:
    """The page serving the test project's `cnn` with a third answer, as the export writes it."""
    import keras  # noqa: PLC0415 (TensorFlow only where it runs)

    from cat_dog_classifier.model_files import model_md5  # noqa: PLC0415
    from cat_dog_classifier.neither import fit_detector, with_neither_output  # noqa: PLC0415
    from cat_dog_classifier.pipelines.export.nodes import export_tfjs_models  # noqa: PLC0415

    project = trained_project.path
    parameters = yaml.safe_load((project / "conf/base/parameters_train.yml").read_text())
    settings = parameters["variants"]["transfer"]["neither"]  # the project's detector settings
    decision = json.loads((project / "data/08_reporting/champion.json").read_text())
    record = decision["candidates"][VARIANT]
    model = keras.saving.load_model(project / f"data/06_models/variants/{VARIANT}.keras")
    with np.load(project / "data/05_model_input/gray100.npz") as sets:
        detector = fit_detector(model, dict(sets), settings)
    with_neither = with_neither_output(model, detector)

    def keras_outputs(images: list[np.ndarray]) -> tuple[list[float], list[float]]:
        outputs = with_neither.predict(np.stack(images).astype("float32"), verbose=0)
        dog, neither = outputs["dog_probability"].ravel(), outputs["neither_score"].ravel()
        return dog.tolist(), neither.tolist()

    scratch = tmp_path_factory.mktemp("neither")
    photos = sample_photos(samples_dir)
    dog, neither = keras_outputs([training_input(photo, record) for photo in photos])
    videos = {photo: camera_video(photo, scratch / f"{photo.stem}.y4m") for photo in photos}
    frames = [training_pixels(frame_pixels(y4m_rgb(v), record), record) for v in videos.values()]
    _, camera_neither = keras_outputs(frames)
    scores = dict(zip(photos, camera_neither, strict=True))
    other, pet = widest_split(scores)
    assert scores[other] - scores[pet] > 2 * (CAMERA_TOLERANCE + TOLERANCE["none"])
    threshold = (scores[other] + scores[pet]) / 2

    model_file = scratch / f"{VARIANT}.keras"
    with_neither.save(model_file)
    model_bytes = model_file.read_bytes()
    exported = {
        **record,
        "id": VARIANT,
        "aliases": [],
        "model_md5": model_md5(model_bytes),
        "neither": {"output": "neither_score", "threshold": threshold},
    }
    # float32, as `transfer`, the variant with the third answer, ships (float16 moved this
    # detector's score by up to 0.01: chelsea.png 0.258 against Keras's 0.248).
    files = export_tfjs_models([exported], b"", [], **{VARIANT: model_bytes})
    models = scratch / "models"
    for name, data in files.items():
        (models / name).parent.mkdir(parents=True, exist_ok=True)
        (models / name).write_bytes(data)
    web_dir = copy_page(scratch / "web", models)
    with serve(web_dir) as url:
        manifest = json.loads((models / "manifest.json").read_text())
        pairs = zip(photos, dog, neither, strict=True)
        keras_scores = {photo.name: (d, n) for photo, d, n in pairs}
        page = ServedPage(url, web_dir, manifest)
        yield NeitherExport(page, keras_scores, videos[other], videos[pet])


@pytest.mark.slow
def test_the_manifest_names_the_second_output_and_its_threshold(neither_export: NeitherExport):
    entry = neither_export.page.entry(VARIANT)
    assert entry["neither"]["output"] == "neither_score"
    assert 0 < entry["neither"]["threshold"] < 1
    assert entry["quantization"] == "none"
    model_json = neither_export.page.web_dir / "models" / VARIANT / "model.json"
    graph = json.loads(model_json.read_text())
    # Named outputs (use_structured_outputs_names), which the page looks up by name.
    assert sorted(graph["userDefinedMetadata"]["structuredOutputKeys"]) == [
        "dog_probability",
        "neither_score",
    ]


@pytest.mark.slow
def test_both_outputs_match_keras_and_the_answer_follows_the_threshold(
    neither_export: NeitherExport, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    served = neither_export.page
    entry = served.entry(VARIANT)
    threshold = entry["neither"]["threshold"]
    page = open_model(launch_chromium(), served.url, VARIANT)
    tolerance = TOLERANCE[entry["quantization"]]
    for photo in sample_photos(samples_dir):
        keras_dog, keras_neither = neither_export.keras_scores[photo.name]
        ours = page_predict(page, training_input(photo, entry))
        assert ours["dog"] == pytest.approx(keras_dog, abs=tolerance), photo.name
        assert ours["neither"] == pytest.approx(keras_neither, abs=tolerance), photo.name

        answer = upload(page, photo)
        # The page's whole chain: its resize may move a pixel by a level (test_parity.py).
        assert answer["neither"] == pytest.approx(keras_neither, abs=0.01 + tolerance), photo.name
        if abs(keras_neither - threshold) > 0.01 + tolerance:
            assert (answer["label"] == "neither") == (keras_neither >= threshold), photo.name


@pytest.mark.slow
def test_the_camera_shows_no_cat_or_dog_for_a_photo_of_something_else(
    neither_export: NeitherExport, launch_chromium: Callable[..., Browser]
):
    served = neither_export.page
    threshold = served.entry(VARIANT)["neither"]["threshold"]

    page = open_page(launch_chromium(neither_export.other_video), f"{served.url}?model={VARIANT}")
    wait_for_frames(page, 3)
    expect(page.locator("#label")).to_have_text("No cat or dog")
    last = snapshot(page)["last"]
    assert last["source"] == "camera"
    assert last["neither"] >= threshold
    expect(page.locator("#neither-score")).to_be_visible()
    expect(page.locator("#neither-score")).to_have_text(f"Not a cat or dog: {last['neither']:.3f}")
    expect(page.locator("#model-info")).to_contain_text("answers “no cat or dog” too")
    expect(page.locator("#scale")).to_have_class(re.compile(r"\bdimmed\b"))

    pet = open_page(launch_chromium(neither_export.pet_video), f"{served.url}?model={VARIANT}")
    wait_for_frames(pet, 3)
    last = snapshot(pet)["last"]
    assert last["source"] == "camera"
    assert last["neither"] < threshold
    expect(pet.locator("#label")).not_to_have_text("No cat or dog")
    expect(pet.locator("#label")).to_have_text(last["label"].replace("unsure", "not sure"))
