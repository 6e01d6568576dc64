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
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from .conftest import VARIANT, NeitherExport
from .pages import (
    TOLERANCE,
    open_model,
    open_page,
    page_predict,
    sample_photos,
    snapshot,
    training_input,
    upload,
    wait_for_frames,
)


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
