"""The camera page in real headless Chromium, with the exported models and real photos."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import ServedPage
from .pages import TIMEOUT_MS, open_model, open_page, snapshot, upload, wait_for_frames

# Records every Content-Security-Policy violation, from the page's first script on.
CSP_WATCH = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) =>
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));
"""


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
    assert state["pixels"] == "VideoFrame.copyTo"  # into the page's own buffer, no ImageData
    champion = served_page.version("transfer")
    expect(page.locator("#model-info")).to_contain_text(
        f"transfer · cat_dog_classifier v{champion}"
    )
    expect(page.locator("#model-info")).to_contain_text("@champion")
    expect(page.locator("#model-info")).to_contain_text("test accuracy")
    entry = served_page.manifest["models"][0]
    registered = served_page.lineage(entry["id"])  # beside the manifest: lineage.json
    lineage = page.locator("#model-lineage")
    expect(lineage).to_contain_text(f"commit {registered['git_commit'][:7]}")
    expect(lineage).to_contain_text(f"model MD5 {entry['model_md5'][:8]}")
    expect(lineage).to_contain_text(f"trained in run {registered['training_run_id'][:8]}")
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
    state = snapshot(page)
    assert not state["live"]  # the photo stays on screen: the camera loop stops
    assert not state["loop"]["running"]

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
    # Routing sees only the page's own requests: no service worker to answer them instead.
    browser = launch_chromium(samples_dir / "cat/black_cat.jpg")
    context = browser.new_context(service_workers="block")
    context.route("**/models/transfer/model.json", lambda route: route.fulfill(status=404))
    page = context.new_page()
    page.goto(served_page.url)

    expect(page.locator("#message")).to_contain_text(
        "The model “transfer” failed to load", timeout=TIMEOUT_MS
    )
    expect(page.locator("#message")).to_contain_text("kedro run --pipelines export")
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
    context = launch_chromium().new_context(service_workers="block")
    context.route("**/models/manifest.json", lambda route: route.fulfill(status=404))
    page = context.new_page()
    page.goto(served_page.url)

    expect(page.locator("#message")).to_contain_text(
        "kedro run --pipelines export", timeout=TIMEOUT_MS
    )


@pytest.mark.slow
def test_no_request_leaves_the_origin_and_nothing_breaks_the_security_policy(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    context = launch_chromium(samples_dir / "dog/dog.jpeg").new_context()
    context.add_init_script(CSP_WATCH)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(served_page.url)
    wait_for_frames(page, 3)
    page.select_option("#model-select", "cnn")
    expect(page.locator("#model-info")).to_contain_text("cnn · ")
    upload(page, samples_dir / "cat/chelsea.png")

    outside = [url for url in requests if not url.startswith((served_page.url, "blob:", "data:"))]
    assert outside == []
    assert snapshot(page)["backend"] == "wasm"
    assert any(url.endswith(".wasm") for url in requests)
    assert any(url.endswith("models/cnn/model.json") for url in requests)
    assert page.evaluate("window.cspViolations") == []
    assert errors == []


@pytest.mark.slow
def test_threaded_wasm_runs_under_the_security_policy(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    """A phone or laptop with more cores gets WASM threads (TF.js starts them from blob: URLs)."""
    context = launch_chromium(samples_dir / "dog/puppy.jpg").new_context()
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setHardwareConcurrencyOverride", {"hardwareConcurrency": 8})
    page.goto(served_page.url)
    wait_for_frames(page, 3)

    state = snapshot(page)
    assert state["crossOriginIsolated"]
    assert state["wasmThreads"] > 1
    expect(page.locator("#backend")).to_have_text(f"wasm ({state['wasmThreads']} threads)")
    expect(page.locator("#label")).to_have_text("dog")
    assert page.evaluate("window.cspViolations") == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "cores_query_threads",
    [
        (2, "", 2),  # TF.js alone would run one, half of two
        (2, "&threads=1", 1),
        (8, "", 4),  # half, as TF.js chooses (hyperthreads)
        (8, "&threads=6", 6),
        (1, "", 1),
    ],
)
def test_wasm_runs_as_many_threads_as_the_cores_and_the_address_say(
    served_page: ServedPage,
    launch_chromium: Callable[..., Browser],
    samples_dir: Path,
    cores_query_threads: tuple[int, str, int],
):
    cores, query, threads = cores_query_threads
    context = launch_chromium(grant_camera=False).new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    context.new_cdp_session(page).send(
        "Emulation.setHardwareConcurrencyOverride", {"hardwareConcurrency": cores}
    )
    page.goto(f"{served_page.url}?camera=off&model=cnn{query}")
    page.wait_for_function("() => catDogDebug.snapshot().model === 'cnn'")

    assert snapshot(page)["wasmThreads"] == threads
    shown = f"wasm ({threads} threads)" if threads > 1 else "wasm"
    expect(page.locator("#backend")).to_have_text(shown)
    # The count TF.js was shown while it started is gone again.
    assert page.evaluate("navigator.hardwareConcurrency") == cores
    assert page.evaluate("Object.hasOwn(navigator, 'hardwareConcurrency')") is False
    assert 0 <= upload(page, samples_dir / "dog/dog.jpeg")["dog"] <= 1  # and it classifies


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
    expect(page.locator("#model-info")).to_contain_text("100x100 grayscale · float16")
    page.wait_for_function("() => catDogDebug.snapshot().model === 'cnn'")
    frames = snapshot(page)["frames"]
    wait_for_frames(page, frames + 3)  # the live loop resumes with the new model


def scale_geometry(page: Page) -> dict:
    """Where the fill and the marker stand on the scale, as fractions of the track (0 = cat end)."""
    return page.evaluate(
        """() => {
            const track = document.querySelector(".scale-track").getBoundingClientRect();
            const at = (x) => (x - track.left) / track.width;
            const fill = document.getElementById("scale-fill");
            const box = fill.getBoundingClientRect();
            const marker = document.getElementById("scale-marker").getBoundingClientRect();
            const colour = (selector) => getComputedStyle(document.querySelector(selector)).color;
            return {
                fillFrom: at(box.left),
                fillTo: at(box.right),
                marker: at(marker.left + marker.width / 2),
                fillColour: getComputedStyle(fill).backgroundColor,
                catColour: colour(".scale-end:first-child"),
                dogColour: colour(".scale-end:last-child"),
                text: document.getElementById("probability").textContent,
                label: document.getElementById("label").textContent,
            };
        }"""
    )


def show(page: Page, label: str, dog: float) -> dict:
    """Show an answer through the page's own view module (exact probabilities, no model)."""
    page.evaluate(
        """async ([label, dog]) => {
            const { ResultView } = await import("./view.js");
            new ResultView().show(label, dog, null, "test");
        }""",
        [label, dog],
    )
    return scale_geometry(page)


@pytest.mark.slow
def test_the_scale_reads_at_a_glance(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    page = open_model(launch_chromium(), served_page.url, "transfer")

    all_cat = show(page, "cat", 0.0)  # P(dog) = 0: the cat half filled in cat colour, nothing else
    assert (all_cat["fillFrom"], all_cat["fillTo"]) == pytest.approx((0.0, 0.5), abs=0.01)
    assert all_cat["marker"] == pytest.approx(0.0, abs=0.01)
    assert all_cat["fillColour"] == all_cat["catColour"]
    assert (all_cat["text"], all_cat["label"]) == ("P(dog) 0.000", "cat")

    all_dog = show(page, "dog", 1.0)
    assert (all_dog["fillFrom"], all_dog["fillTo"]) == pytest.approx((0.5, 1.0), abs=0.01)
    assert all_dog["marker"] == pytest.approx(1.0, abs=0.01)
    assert all_dog["fillColour"] == all_dog["dogColour"]

    unsure = show(page, "unsure", 0.6)
    assert unsure["fillTo"] - unsure["fillFrom"] == pytest.approx(0.1, abs=0.01)
    assert unsure["marker"] == pytest.approx(0.6, abs=0.01)
    assert unsure["label"] == "not sure"

    # And from a real photo (the small test model: P(dog) 0.13 at 192x192, under 0.1 at 160):
    # filled from the marker at P(dog) to the middle, in cat colour.
    upload(page, samples_dir / "cat/black_cat.jpg")
    cat = scale_geometry(page)
    assert cat["label"] == "cat"
    assert cat["marker"] < 0.35  # the page's default `low`
    assert (cat["fillFrom"], cat["fillTo"]) == pytest.approx((cat["marker"], 0.5), abs=0.01)
    assert cat["fillColour"] == cat["catColour"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "ignored"),
    [
        ("interval=abc", ["interval=abc"]),
        ("interval=0", ["interval=0"]),
        ("interval=-5&low=0.2", ["interval=-5"]),
        ("interval=&low=x&high=0.9", ["interval=", "low=x, high=0.9"]),
        ("low=0.8&high=0.2", ["low=0.8, high=0.2"]),
        ("high=1.5", ["low=0.35, high=1.5"]),
        ("backend=gpu&camera=maybe", ["backend=gpu", "camera=maybe"]),
        ("threads=9&camera=on", ["threads=9"]),
        ("threads=1.5", ["threads=1.5"]),
        ("model=resnet&interval=x", ["interval=x", "model=resnet"]),
    ],
)
def test_bad_settings_in_the_address_fall_back_to_defaults_with_a_note(
    served_page: ServedPage,
    launch_chromium: Callable[..., Browser],
    samples_dir: Path,
    query: str,
    ignored: list[str],
):
    page = open_page(launch_chromium(samples_dir / "dog/dog.jpeg"), f"{served_page.url}?{query}")
    wait_for_frames(page, 3)

    notes = page.locator("#notes li")
    expect(notes).to_have_count(len(ignored))
    for note, setting in zip(notes.all(), ignored, strict=True):
        expect(note).to_be_visible()
        expect(note).to_contain_text(f"Ignored {setting}")
    state = snapshot(page)
    defaults = {"intervalMs": 20, "low": 0.35, "high": 0.65}
    if "low=0.2" in query:
        defaults["low"] = 0.2  # the valid one is kept
    assert {key: state["settings"][key] for key in defaults} == defaults
    assert state["loop"]["minIntervalMs"] == defaults["intervalMs"]
    assert state["backend"] == "wasm"
    assert state["model"] == served_page.manifest["default_model"]  # whatever `model=` asked
    expect(page.locator("#interval")).to_have_value(str(defaults["intervalMs"]))


@pytest.mark.slow
def test_good_settings_apply_and_bad_ones_typed_in_are_refused(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    url = f"{served_page.url}?interval=100&low=0.1&high=0.9&model=cnn"
    page = open_page(launch_chromium(samples_dir / "dog/dog.jpeg"), url)
    wait_for_frames(page, 2)

    expect(page.locator("#notes")).to_be_hidden()
    state = snapshot(page)
    assert (state["settings"]["low"], state["settings"]["high"]) == (0.1, 0.9)
    assert state["loop"]["minIntervalMs"] == 100

    page.locator("#settings summary").click()
    page.fill("#interval", "0")
    page.locator("#interval").dispatch_event("change")
    expect(page.locator("#notes li")).to_contain_text("Ignored an interval of “0” ms")
    expect(page.locator("#interval")).to_have_value("100")
    page.fill("#interval", "40")
    page.locator("#interval").dispatch_event("change")
    page.wait_for_function("() => catDogDebug.snapshot().loop.minIntervalMs === 40")
