"""The page in a user's hand: every action at any moment, in any order, while frames are in flight.
After each, exactly one camera track is live (or none, said so), the model in use is the last one
asked for (or the previous one, said so), no model is left behind in TF.js's memory, and frames keep
coming."""

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from .conftest import ServedPage
from .pages import HIDING, TIMEOUT_MS, TRACKS, snapshot, upload, wait_for_frames
from .test_page import drop_file


def open_tracked(context: BrowserContext, url: str) -> Page:
    """The page at `url` with its camera streams counted (`liveTracks()`), once it classifies."""
    context.add_init_script(TRACKS)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    wait_for_frames(page, 3)
    return page


def live_devices(page: Page) -> list[str]:
    return page.evaluate("liveTracks().map((track) => track.getSettings().deviceId)")


def camera_ids(page: Page) -> list[str]:
    page.wait_for_function("() => document.querySelectorAll('#camera-select option').length >= 2")
    return page.eval_on_selector_all("#camera-select option", "all => all.map((o) => o.value)")


def keeps_classifying(page: Page, frames: int = 3) -> dict:
    """Frames keep coming from the camera: the snapshot after `frames` more."""
    wait_for_frames(page, snapshot(page)["frames"] + frames)
    state = snapshot(page)
    assert state["last"]["source"] == "camera"
    assert state["live"]
    assert state["loop"]["running"]
    return state


def choose(page: Page, select: str, *values: str, while_: str | None = None) -> None:
    """Choose `values` in the `select` one after another, as fast as no user's fingers can: back to
    back, or each next one as soon as the previous one is under way: `while_` "opening" (it asked
    for a camera) or "loading" (a model)."""
    page.evaluate(
        """async ([select, values, underWay]) => {
            const element = document.querySelector(select);
            const started = {
                opening: () => window.cameraRequests,
                loading: () => catDogDebug.snapshot().loads,
            }[underWay];
            for (const value of values) {
                const before = started?.();
                element.value = value;
                element.dispatchEvent(new Event("change"));
                while (started && started() === before) {
                    await new Promise((resolve) => setTimeout(resolve, 1));
                }
            }
        }""",
        [select, list(values), while_],
    )


def tensors(page: Page) -> int:
    """TF.js's tensors between two frames (a frame in flight holds its outputs for a while)."""
    return page.evaluate(
        "async () => { await catDogDebug.runFrames(0); return catDogDebug.numTensors(); }"
    )


def settled(page: Page) -> None:
    """No model loading, abandoned ones included (each is disposed as it arrives)."""
    page.wait_for_function(
        "() => catDogDebug.snapshot().loads === 0 && catDogDebug.snapshot().loading === null"
    )


@pytest.mark.slow
@pytest.mark.parametrize("when", ["at once", "while the first opens"])
def test_two_quick_camera_switches_leave_the_last_camera_on_alone(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], when: str
):
    context = launch_chromium(cameras=2).new_context()
    page = open_tracked(context, f"{served_page.url}?model=cnn")
    first, second = camera_ids(page)
    assert live_devices(page) == [first]

    choose(page, "#camera-select", second, first, while_=None if when == "at once" else "opening")
    page.wait_for_function("() => catDogDebug.snapshot().camera === 'on'")
    keeps_classifying(page)

    opened = page.evaluate("cameraStreams.length")
    # While it opened, the first switch's camera was let go as soon as it came.
    assert opened == (2 if when == "at once" else 3)
    assert live_devices(page) == [first]  # the last one asked for, and no other
    assert page.locator("#camera-select").input_value() == first
    assert snapshot(page)["error"] is None


@pytest.mark.slow
@pytest.mark.parametrize("when", ["at once", "while the first loads"])
def test_two_quick_model_switches_leave_the_last_model_and_no_other(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path, when: str
):
    context = launch_chromium(samples_dir / "cat/kitten.jpeg").new_context()
    page = open_tracked(context, f"{served_page.url}?model=cnn")
    before = tensors(page)

    # transfer, and back to cnn: transfer is never loaded, or dropped as it arrives.
    under_way = None if when == "at once" else "loading"
    choose(page, "#model-select", "transfer", "cnn", while_=under_way)
    settled(page)
    assert snapshot(page)["model"] == "cnn"
    assert tensors(page) == before
    keeps_classifying(page)

    # One after the other: each replaced model is disposed once its last frame is done.
    for model in ("transfer", "cnn"):
        page.select_option("#model-select", model)
        page.wait_for_function(f"() => catDogDebug.snapshot().model === '{model}'")
        keeps_classifying(page)
    expect(page.locator("#model-info")).to_contain_text("cnn · cat_dog_classifier")
    assert tensors(page) == before
    assert live_devices(page) and len(live_devices(page)) == 1
    assert snapshot(page)["error"] is None


@pytest.mark.slow
def test_a_model_that_fails_to_load_leaves_the_one_in_use_running(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    # Routing sees only the page's own requests: no service worker to answer them instead.
    context = launch_chromium(samples_dir / "cat/kitten.jpeg").new_context(service_workers="block")
    context.route("**/models/transfer/model.json", lambda route: route.fulfill(status=404))
    page = open_tracked(context, f"{served_page.url}?model=cnn")
    before = tensors(page)

    page.select_option("#model-select", "transfer")
    expect(page.locator("#message")).to_contain_text("The model “transfer” failed to load")
    expect(page.locator("#message")).to_contain_text("Still classifying with cnn")
    settled(page)
    assert snapshot(page)["model"] == "cnn"
    assert page.locator("#model-select").input_value() == "cnn"
    expect(page.locator("#model-info")).to_contain_text("cnn · cat_dog_classifier")
    keeps_classifying(page)
    assert tensors(page) == before


@pytest.mark.slow
def test_a_photo_dropped_while_the_model_switches_gets_the_new_models_answer(
    served_page: ServedPage,
    launch_chromium: Callable[..., Browser],
    samples_dir: Path,
    tmp_path: Path,
):
    context = launch_chromium(samples_dir / "cat/kitten.jpeg").new_context()
    page = open_tracked(context, f"{served_page.url}?model=cnn")
    before = tensors(page)
    photo = samples_dir / "dog/dog.jpeg"

    for model in ("transfer", "cnn"):
        choose(page, "#model-select", model)
        drop_file(page, photo)  # while the model loads: classified by the one in use, then by it
        settled(page)
        page.wait_for_function(
            "([model, source]) => catDogDebug.snapshot().last?.model === model && "
            "catDogDebug.snapshot().last.source === source",
            arg=[model, f"photo {photo.name}"],
        )
        shown = snapshot(page)
        assert not shown["live"]
        assert shown["error"] is None
        # The answer on screen is the new model's: the same photo, given to it now, gets the same.
        again = tmp_path / f"again-{model}.jpeg"
        again.write_bytes(photo.read_bytes())
        assert upload(page, again)["dog"] == shown["last"]["dog"]
    assert tensors(page) == before

    page.locator("#camera-button").click()
    keeps_classifying(page)
    assert len(live_devices(page)) == 1


@pytest.mark.slow
def test_switching_while_the_page_is_hidden_resumes_when_it_shows(
    served_page: ServedPage, launch_chromium: Callable[..., Browser]
):
    context = launch_chromium(cameras=2).new_context()
    context.add_init_script(HIDING)
    page = open_tracked(context, f"{served_page.url}?model=cnn")
    _, second = camera_ids(page)
    before = tensors(page)

    page.evaluate("setHidden(true)")
    page.select_option("#camera-select", second)
    page.select_option("#model-select", "transfer")
    page.wait_for_function("() => catDogDebug.snapshot().model === 'transfer'")
    page.wait_for_function("() => catDogDebug.snapshot().camera === 'on'")
    hidden_at = snapshot(page)["frames"]
    page.wait_for_timeout(1000)
    assert snapshot(page)["frames"] == hidden_at  # nothing classified while hidden

    page.evaluate("setHidden(false)")
    keeps_classifying(page)
    assert live_devices(page) == [second]
    page.select_option("#model-select", "cnn")
    page.wait_for_function("() => catDogDebug.snapshot().model === 'cnn'")
    keeps_classifying(page)
    assert tensors(page) == before


# What a browser does when a camera is unplugged: the track ends, and says so. (Chromium's fake
# camera cannot be unplugged, and a page's own stop() fires no event.)
UNPLUG = """() => {
    const track = liveTracks()[0];
    track.stop();
    track.dispatchEvent(new Event("ended"));
}"""


@pytest.mark.slow
def test_a_camera_that_ends_says_so_and_resumes(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    context = launch_chromium(samples_dir / "cat/kitten.jpeg").new_context()
    page = open_tracked(context, f"{served_page.url}?model=cnn")

    page.evaluate(UNPLUG)
    expect(page.locator("#message")).to_contain_text("The camera stopped")
    expect(page.locator("#message")).to_contain_text("Resume camera")
    state = snapshot(page)
    assert (state["camera"], state["live"], state["loop"]["running"]) == ("off", False, False)
    assert live_devices(page) == []

    page.locator("#camera-button").click()
    keeps_classifying(page)
    expect(page.locator("#message")).to_be_hidden()
    assert len(live_devices(page)) == 1


@pytest.mark.slow
def test_a_withdrawn_camera_permission_stops_the_camera_and_says_so(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    browser = launch_chromium(samples_dir / "cat/kitten.jpeg", grant_camera=False)
    context = browser.new_context(permissions=["camera"])
    page = open_tracked(context, f"{served_page.url}?model=cnn")
    before = tensors(page)

    context.clear_permissions()  # Chromium ends the camera's track, as when a user withdraws it
    expect(page.locator("#message")).to_contain_text("The camera stopped")
    assert live_devices(page) == []
    page.locator("#camera-button").click()  # asking again: the browser refuses now
    expect(page.locator("#message")).to_contain_text("Camera permission was denied")
    state = snapshot(page)
    assert (state["camera"], state["live"], state["loop"]["running"]) == ("off", False, False)
    assert live_devices(page) == []
    assert tensors(page) == before
    upload(page, samples_dir / "dog/puppy.jpg")  # photos still work
    assert snapshot(page)["error"] is None
