"""The camera page in real headless Chromium, with the exported champion and real photos."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import ServedPage

TIMEOUT_MS = 60_000


def open_page(browser: Browser, url: str, **context_options) -> Page:
    page = browser.new_context(**context_options).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_function("window.catDogDebug !== undefined")
    return page


def snapshot(page: Page) -> dict:
    return page.evaluate("catDogDebug.snapshot()")


def wait_for_frames(page: Page, frames: int) -> None:
    page.wait_for_function(f"catDogDebug.snapshot().frames >= {frames}")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("photo", "label"),
    [
        ("cat/black_cat.jpg", "cat"),
        ("cat/kitten.jpeg", "cat"),
        ("dog/dog.jpeg", "dog"),
        ("dog/puppy.jpg", "dog"),
    ],
)
def test_a_camera_showing_a_real_photo_is_classified_live(
    served_page: ServedPage,
    launch_chromium: Callable[..., Browser],
    samples_dir: Path,
    photo: str,
    label: str,
):
    page = open_page(launch_chromium(samples_dir / photo), served_page.url)
    wait_for_frames(page, 5)

    expect(page.locator("#label")).to_have_text(label)
    state = snapshot(page)
    assert state["error"] is None
    assert state["last"]["source"] == "camera"
    assert state["model"] == "transfer"  # the champion opens by default
    champion = served_page.version("transfer")
    expect(page.locator("#model-info")).to_contain_text(
        f"transfer · cat_dog_classifier v{champion}"
    )
    expect(page.locator("#model-info")).to_contain_text("@champion")
    expect(page.locator("#model-info")).to_contain_text("test accuracy")
    entry = served_page.manifest["models"][0]
    lineage = page.locator("#model-lineage")
    expect(lineage).to_contain_text(f"commit {entry['git_commit'][:7]}")
    expect(lineage).to_contain_text(f"model MD5 {entry['model_md5'][:8]}")
    expect(lineage).to_contain_text(f"trained in run {entry['training_run_id'][:8]}")
    expect(page.locator("#backend")).to_contain_text(state["backend"])
    assert state["backend"] in {"webgl", "wasm", "cpu"}
    expect(page.locator("#inference-ms")).to_have_text(re.compile(r"^\d+\.\d ms$"))
    expect(page.locator("#fps")).to_have_text(re.compile(r"^\d+$"))


def drop_file(page: Page, photo: Path) -> None:
    """Drop a file on the page the way a browser does: a drop event carrying a DataTransfer."""
    page.evaluate(
        """async ([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "image/jpeg" }));
            const zone = document.getElementById("drop-zone");
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
        }""",
        [photo.name, list(photo.read_bytes())],
    )


@pytest.mark.slow
def test_photos_are_classified_from_the_file_picker_and_by_drag_and_drop(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    page = open_page(launch_chromium(samples_dir / "cat/black_cat.jpg"), served_page.url)
    wait_for_frames(page, 1)

    page.set_input_files("#file-input", samples_dir / "dog/dog.jpeg")
    expect(page.locator("#source")).to_have_text("photo dog.jpeg")
    expect(page.locator("#label")).to_have_text("dog")
    expect(page.locator("#photo")).to_be_visible()
    assert not snapshot(page)["live"]  # the photo stays on screen: the camera loop stops

    drop_file(page, samples_dir / "cat/kitten.jpeg")
    expect(page.locator("#source")).to_have_text("photo kitten.jpeg")
    expect(page.locator("#label")).to_have_text("cat")

    page.locator("#camera-button").click()  # back to the live camera
    expect(page.locator("#source")).to_have_text("camera")


@pytest.mark.slow
def test_a_denied_camera_says_so_and_photos_still_work(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    browser = launch_chromium(samples_dir / "cat/black_cat.jpg", grant_camera=False)
    page = open_page(browser, served_page.url, permissions=[])

    expect(page.locator("#message")).to_contain_text("Camera permission was denied")
    expect(page.locator("#message")).to_be_visible()
    page.set_input_files("#file-input", samples_dir / "dog/puppy.jpg")
    expect(page.locator("#label")).to_have_text("dog")


@pytest.mark.slow
def test_no_camera_says_so(served_page: ServedPage, launch_chromium: Callable[..., Browser]):
    page = open_page(launch_chromium(camera_photo=None), served_page.url)

    expect(page.locator("#message")).to_contain_text("No camera was found")
    expect(page.locator("#status")).to_have_text(re.compile("^Ready on "))


@pytest.mark.slow
def test_a_model_that_fails_to_load_says_so(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    context = launch_chromium(samples_dir / "cat/black_cat.jpg").new_context()
    context.route("**/models/transfer/model.json", lambda route: route.fulfill(status=404))
    page = context.new_page()
    page.goto(served_page.url)

    expect(page.locator("#message")).to_contain_text(
        "The model “transfer” failed to load", timeout=TIMEOUT_MS
    )
    expect(page.locator("#status")).to_have_text("Model failed to load")
    # The other exported model still loads from the picker.
    page.select_option("#model-select", "cnn")
    expect(page.locator("#model-info")).to_contain_text(
        "cnn · cat_dog_classifier", timeout=TIMEOUT_MS
    )
    expect(page.locator("#message")).to_be_hidden()


@pytest.mark.slow
def test_a_missing_manifest_says_how_to_export(
    served_page: ServedPage, launch_chromium: Callable[..., Browser]
):
    context = launch_chromium().new_context()
    context.route("**/models/manifest.json", lambda route: route.fulfill(status=404))
    page = context.new_page()
    page.goto(served_page.url)

    expect(page.locator("#message")).to_contain_text(
        "kedro run --pipeline export", timeout=TIMEOUT_MS
    )


@pytest.mark.slow
def test_no_request_leaves_the_origin(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    context = launch_chromium(samples_dir / "dog/dog.jpeg").new_context()
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(served_page.url)
    wait_for_frames(page, 3)
    page.select_option("#model-select", "cnn")
    expect(page.locator("#model-info")).to_contain_text("cnn · ")
    page.set_input_files("#file-input", samples_dir / "cat/chelsea.png")
    expect(page.locator("#source")).to_have_text("photo chelsea.png")

    outside = [url for url in requests if not url.startswith((served_page.url, "blob:", "data:"))]
    assert outside == []
    assert any(url.endswith(".wasm") for url in requests) == (snapshot(page)["backend"] == "wasm")
    assert any(url.endswith("models/cnn/model.json") for url in requests)


@pytest.mark.slow
def test_the_live_tensor_count_stays_flat(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    page = open_page(
        launch_chromium(samples_dir / "dog/dog.jpeg"), f"{served_page.url}?model=cnn&interval=1"
    )
    wait_for_frames(page, 10)
    start = page.evaluate("[catDogDebug.snapshot().frames, catDogDebug.numTensors()]")

    wait_for_frames(page, start[0] + 1000)
    end = page.evaluate("[catDogDebug.snapshot().frames, catDogDebug.numTensors()]")

    assert end[0] - start[0] >= 1000
    assert end[1] == start[1]


@pytest.mark.slow
def test_the_picker_switches_models_and_the_cpu_backend_can_be_forced(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    page = open_page(
        launch_chromium(samples_dir / "cat/black_cat.jpg"), f"{served_page.url}?backend=cpu"
    )
    wait_for_frames(page, 2)

    expect(page.locator("#backend")).to_have_text("cpu")
    expect(page.locator("#label")).to_have_text("cat")
    assert page.locator("#model-select option").all_inner_texts() == [
        f"transfer v{served_page.version('transfer')} @champion",
        f"cnn v{served_page.version('cnn')}",
    ]
    page.select_option("#model-select", "cnn")
    expect(page.locator("#model-info")).to_contain_text("cnn · cat_dog_classifier")
    expect(page.locator("#model-info")).to_contain_text("100x100 grayscale")
    page.wait_for_function("catDogDebug.snapshot().model === 'cnn'")
    frames = snapshot(page)["frames"]
    wait_for_frames(page, frames + 3)  # the live loop resumes with the new model
