"""The page's preprocessing (web/preprocess.js, computed by wasm/resize.ts) against training's, bit
for bit, on every path OpenCV takes: area sums (a camera frame, a large photo), whole-number scales,
and enlarging (a photo smaller than the model's input: PetImages' own 180x180 thumbnails), in RGB
and gray, one Preprocessor taking one size after another as a camera or dropped photos give them."""

import base64

import cv2
import numpy as np
import pytest
from playwright.sync_api import Page

from cat_dog_classifier.images import resize

# (source width, source height): what each takes through cv2.resize's INTER_AREA.
SOURCES = [
    (640, 480),  # a camera frame: area sums
    (1280, 720),  # a laptop's HD camera
    (500, 375),  # PetImages' full-size photos (a user's make run)
    (384, 384),  # 2x: whole-number scale (192), 3.84x (100)
    (300, 300),  # 3x to 100: whole-number scale with a float factor
    (180, 180),  # the thumbnails in ../shared: enlarged to 192, shrunk to 100
    (97, 61),  # enlarged on both sides, rows not a multiple of the vector width
    (64, 300),  # one side enlarged, the other shrunk
]
INPUTS = {"transfer": (192, 192, 3), "cnn": (100, 100, 1)}


def preprocess(
    page: Page, rgb: np.ndarray, model_input: tuple[int, int, int], engine: str
) -> np.ndarray:
    """The page's preprocessing of RGB pixels for `model_input` (height, width, channels) in
    `engine`, by one Preprocessor per input and engine, kept for the next call."""
    height, width, channels = model_input
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    values = page.evaluate(
        """async ([data, sourceWidth, sourceHeight, input, engine]) => {
            const { Preprocessor } = await import("./preprocess.js");
            const rgba = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const key = `${input.height}x${input.width}x${input.channels} ${engine}`;
            window.preprocessors ??= {};
            preprocessors[key] ??= await Preprocessor.create(input, engine);
            if (preprocessors[key].engine.name !== engine) throw new Error(`not ${engine}`);
            return Array.from(preprocessors[key].run(rgba, sourceWidth, sourceHeight));
        }""",
        [
            base64.b64encode(rgba.tobytes()).decode(),
            rgb.shape[1],
            rgb.shape[0],
            {"height": height, "width": width, "channels": channels},
            engine,
        ],
    )
    return np.array(values).reshape(height, width, channels)


def training(rgb: np.ndarray, model_input: tuple[int, int, int]) -> np.ndarray:
    """Training's conversion (images.py: cv2.cvtColor to gray for gray models) and resize."""
    height, width, channels = model_input
    pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., np.newaxis] if channels == 1 else rgb
    return resize(pixels, height, width, "area").reshape(height, width, channels)


@pytest.mark.parametrize("engine", ["wasm", "js"])
@pytest.mark.parametrize("model", INPUTS)
@pytest.mark.parametrize("source", SOURCES, ids=lambda size: "x".join(map(str, size)))
def test_the_page_preprocesses_as_training_does_to_the_bit(
    module_page: Page, model: str, source: tuple[int, int], engine: str
):
    """WebAssembly (what browsers run), and plain JS (browsers without WebAssembly)."""
    width, height = source
    rng = np.random.default_rng(width * height)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    # Noise puts every pixel's sum anywhere; a blurred image gives a photo's smooth sums and ties.
    for rgb in (noise, cv2.GaussianBlur(noise, (9, 9), 3)):
        ours = preprocess(module_page, rgb, INPUTS[model], engine)
        theirs = training(rgb, INPUTS[model])
        assert np.ptp(theirs) > 10  # a real image's range, not a constant
        differing = np.count_nonzero(ours != theirs)
        assert differing == 0, (
            f"{differing} of {theirs.size} differ by up to {np.ptp(ours - theirs)}"
        )
