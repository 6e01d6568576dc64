"""Driving the page in the browser tests: open it, read its state, feed it photos, and the Python
side of every comparison (training's preprocessing, the page's answer rules)."""

import time
from pathlib import Path

import cv2
import numpy as np
from playwright.sync_api import Browser, Page

from cat_dog_classifier.images import ImageSpec, preprocess_image, resize

TIMEOUT_MS = 60_000
# TF.js (WASM) against Keras on the same input, by the manifest's `quantization`. float32: the two
# runtimes' float arithmetic (measured on the sample photos: transfer within 5e-6). float16: every
# weight rounded to 11 significant bits (measured: the test project's CNN within 2e-6, the fully
# trained CNN within 3e-5; MobileNetV2 would move by up to 8e-3, which is why it ships in float32).
TOLERANCE = {"none": 1e-4, "float16": 1e-3}
BAND = (0.35, 0.65)  # the page's default "not sure" band

# Headless Chromium keeps every page visible: CDP's minimised window, a background tab and the
# frozen lifecycle state all leave document.visibilityState "visible" (measured with Chromium 156).
# So the page is told it is hidden as a browser tells it: `hidden` and a visibilitychange event.
HIDING = """
let hidden = false;
Object.defineProperty(Document.prototype, "hidden", { get: () => hidden, configurable: true });
Object.defineProperty(Document.prototype, "visibilityState", {
  get: () => (hidden ? "hidden" : "visible"), configurable: true });
window.setHidden = (value) => {
  hidden = value;
  document.dispatchEvent(new Event("visibilitychange"));
};
"""

# Every camera stream the page gets, for counting the tracks still live (the page's own count could
# miss the very stream it lost track of).
TRACKS = """
window.cameraRequests = 0;
window.cameraStreams = [];
window.liveTracks = () =>
  cameraStreams.flatMap((stream) => stream.getTracks()).filter((t) => t.readyState === "live");
(() => {
  const getUserMedia = MediaDevices.prototype.getUserMedia;
  MediaDevices.prototype.getUserMedia = async function (...args) {
    cameraRequests += 1;
    const stream = await getUserMedia.apply(this, args);
    cameraStreams.push(stream);
    return stream;
  };
})();
"""


def open_page(browser: Browser, url: str, **context_options) -> Page:
    page = browser.new_context(**context_options).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_function("() => window.catDogDebug !== undefined")
    return page


def open_model(browser: Browser, url: str, model: str, query: str = "", **context_options) -> Page:
    """The page with camera off and `model` loaded (and more settings in `query`)."""
    page = open_page(browser, f"{url}?camera=off&model={model}{query}", **context_options)
    page.wait_for_function(f"() => catDogDebug.snapshot().model === '{model}'")
    return page


def snapshot(page: Page) -> dict:
    return page.evaluate("catDogDebug.snapshot()")


def wait_for_frames(page: Page, frames: int) -> None:
    page.wait_for_function(f"() => catDogDebug.snapshot().frames >= {frames}")


def wait_until(
    page: Page, condition: str, arg: object = None, timeout_ms: int = TIMEOUT_MS
) -> None:
    """Poll an async JavaScript `condition` until it resolves truthy. Playwright's wait_for_function
    takes the Promise an async function returns for a truthy answer and passes at once."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(condition, arg):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {timeout_ms} ms: {condition}")
        time.sleep(0.25)


def upload(page: Page, photo: Path) -> dict:
    """Classify `photo` through the page's "Photo…" input; the page's answer (snapshot's `last`)."""
    page.set_input_files("#file-input", photo)
    page.wait_for_function(
        "name => catDogDebug.snapshot().last?.source === `photo ${name}`", arg=photo.name
    )
    return snapshot(page)["last"]


def page_input(page: Page, entry: dict) -> np.ndarray:
    """The model input of the page's last classification, as an image."""
    shape = (entry["input"]["height"], entry["input"]["width"], entry["input"]["channels"])
    return np.array(page.evaluate("catDogDebug.lastInput()")).reshape(shape)


def page_predict(page: Page, image: np.ndarray) -> dict:
    """The page's model on an already preprocessed input: `{dog, neither, ms}`."""
    return page.evaluate("values => catDogDebug.predict(values)", image.ravel().tolist())


def sample_photos(samples_dir: Path) -> list[Path]:
    return sorted(
        p for p in samples_dir.glob("*/*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
    )


def training_pixels(pixels: np.ndarray, entry: dict) -> np.ndarray:
    """Training's resize of decoded pixels (gray or RGB as the model takes them) to the input."""
    model_input = entry["input"]
    return resize(pixels, model_input["height"], model_input["width"], "area")


def frame_pixels(frame: np.ndarray, entry: dict) -> np.ndarray:
    """A decoded RGB camera frame as training would take it: grayscale by OpenCV's weights."""
    if entry["input"]["color_mode"] == "grayscale":
        return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., np.newaxis]
    return frame


def training_input(photo: Path, entry: dict) -> np.ndarray:
    """Training's preprocessing of a photo file for the model `entry` describes."""
    model_input = entry["input"]
    spec = ImageSpec(model_input["height"], model_input["width"], model_input["color_mode"], "area")
    return preprocess_image(photo.read_bytes(), spec)


def label(
    dog: float,
    band: tuple[float, float] = BAND,
    neither: float | None = None,
    neither_threshold: float | None = None,
) -> str:
    """The page's answer, as its view.js decides it: "neither" when the model has the third answer
    and its score reaches the manifest's threshold, else by P(dog) and the "not sure" band."""
    if neither is not None and neither >= neither_threshold:
        return "neither"
    low, high = band
    return "dog" if dog >= high else "cat" if dog <= low else "unsure"


def possible_labels(
    dog: float,
    tolerance: float,
    neither: float | None = None,
    neither_threshold: float | None = None,
) -> set[str]:
    """The page's answers for any P(dog) and "neither" score within `tolerance` of these (at the
    default band): one answer, or two where a score lies that close to a boundary."""
    neithers = [None] if neither is None else [neither - tolerance, neither + tolerance]
    return {
        label(d, BAND, n, neither_threshold)
        for d in (dog - tolerance, dog + tolerance)
        for n in neithers
    }


def keras_outputs(model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A Keras model's P(dog) per image, and its "neither" score where it has that second output
    (a dict of named outputs, as training builds it)."""
    outputs = model.predict(images.astype("float32"), verbose=0)
    if isinstance(outputs, dict):
        return outputs["dog_probability"].ravel(), outputs["neither_score"].ravel()
    return outputs.ravel(), None


def splitting_band(probabilities: np.ndarray) -> tuple[tuple[float, float], float]:
    """A zero-width "not sure" band (`?low=t&high=t`, a user's choice) in the widest gap between
    `probabilities`, so that answers fall on both sides even for a hesitant model; and that gap."""
    values = np.sort(probabilities)
    gaps = np.diff(values)
    widest = int(np.argmax(gaps))
    middle = float(values[widest] + values[widest + 1]) / 2
    return (middle, middle), float(gaps[widest])
