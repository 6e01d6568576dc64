"""TF.js backends: WebGL (what laptops and phones use) against WASM on the exported models, and the
page's choice of backend, each way. No GPU here: WebGL runs on Chromium's software rasteriser
(SwiftShader through ANGLE), which computes what a GPU would, slowly."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, expect

from .conftest import ServedPage
from .pages import (
    TIMEOUT_MS,
    label,
    open_model,
    open_page,
    page_predict,
    sample_photos,
    snapshot,
    training_input,
    upload,
    wait_for_frames,
)

# WebGL against WASM on the same input. TF.js's WebGL backend computes in float32 textures where
# the GPU has them (SwiftShader has); measured on the sample photos: within 2e-6.
WEBGL_TOLERANCE = 1e-4

# Make the WebGL renderer read as a hardware GPU (what the page sees on a laptop).
HARDWARE_RENDERER = """
for (const context of [WebGLRenderingContext, WebGL2RenderingContext]) {
  const getParameter = context.prototype.getParameter;
  context.prototype.getParameter = function (name) {
    // UNMASKED_RENDERER_WEBGL
    if (name === 0x9246) return "ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11)";
    return getParameter.call(this, name);
  };
}
"""


@pytest.mark.slow
@pytest.mark.parametrize("model", ["cnn", "transfer"])
def test_webgl_gives_wasms_answers(
    served_page: ServedPage,
    launch_chromium: Callable[..., Browser],
    samples_dir: Path,
    model: str,
):
    entry = served_page.entry(model)
    browser = launch_chromium(webgl=True)
    inputs = [training_input(photo, entry) for photo in sample_photos(samples_dir)]
    answers = {}
    for backend in ("webgl", "wasm"):
        page = open_model(browser, served_page.url, model, f"&backend={backend}")
        assert snapshot(page)["backend"] == backend
        assert "SwiftShader" in snapshot(page)["renderer"]
        answers[backend] = np.array([page_predict(page, image)["dog"] for image in inputs])
        page.context.close()

    np.testing.assert_allclose(answers["webgl"], answers["wasm"], rtol=0, atol=WEBGL_TOLERANCE)
    assert [label(p) for p in answers["webgl"]] == [label(p) for p in answers["wasm"]]


@pytest.mark.slow
def test_the_page_skips_software_webgl_and_uses_a_hardware_gpu(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    browser = launch_chromium(samples_dir / "dog/dog.jpeg", webgl=True)

    software = open_page(browser, served_page.url)
    wait_for_frames(software, 2)
    assert snapshot(software)["backend"] == "wasm"  # SwiftShader is slower than WASM
    software.context.close()

    context = browser.new_context()
    context.add_init_script(HARDWARE_RENDERER)
    hardware = context.new_page()
    hardware.set_default_timeout(TIMEOUT_MS)
    hardware.goto(served_page.url)
    wait_for_frames(hardware, 2)
    state = snapshot(hardware)
    assert state["backend"] == "webgl"
    assert "NVIDIA" in state["renderer"]
    expect(hardware.locator("#backend")).to_have_text("webgl")
    expect(hardware.locator("#label")).to_have_text("dog")


@pytest.mark.slow
def test_without_webgl_or_wasm_the_page_falls_back(
    served_page: ServedPage, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    no_webgl = launch_chromium(samples_dir / "dog/dog.jpeg", args=("--disable-webgl",))
    page = with_wasm_page = open_page(no_webgl, f"{served_page.url}?model=cnn")
    wait_for_frames(page, 2)
    with_wasm = snapshot(page)
    assert with_wasm["renderer"] is None
    assert with_wasm["backend"] == "wasm"
    assert with_wasm["preprocessing"] == "wasm"

    # No WebAssembly at all (as in Safari's Lockdown Mode; no service worker either): TF.js's CPU
    # backend, and the preprocessing in plain JS.
    context = no_webgl.new_context(service_workers="block")
    context.add_init_script("delete globalThis.WebAssembly")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{served_page.url}?model=cnn")
    wait_for_frames(page, 2)
    assert page.evaluate("typeof WebAssembly") == "undefined"
    without_wasm = snapshot(page)
    assert without_wasm["backend"] == "cpu"
    assert without_wasm["preprocessing"] == "js"
    expect(page.locator("#status")).to_have_text("Ready on cpu")
    # The same photo, the same input to the bit: the same answer, but for the backends' float
    # arithmetic. (A photo, not a camera frame: the frame reader may take a frame through the
    # canvas, whose YUV-to-RGB conversion differs by a level or two, and the small CNN here is
    # undecided enough to move by 0.03 on that.)
    photo = samples_dir / "dog/dog.jpeg"
    assert upload(page, photo)["dog"] == pytest.approx(
        upload(with_wasm_page, photo)["dog"], abs=1e-4
    )


@pytest.mark.slow
def test_the_backend_order(served_page: ServedPage, launch_chromium: Callable[..., Browser]):
    """classifier.js's rule alone: WebGL first on a hardware GPU only; a forced backend alone."""
    page = open_page(launch_chromium(), f"{served_page.url}?camera=off")
    cases = {
        "ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11)": ["webgl", "wasm", "cpu"],
        "Apple GPU": ["webgl", "wasm", "cpu"],
        "Mali-G78": ["webgl", "wasm", "cpu"],
        "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)": [
            "wasm",
            "cpu",
        ],
        "llvmpipe (LLVM 15.0.6, 256 bits)": ["wasm", "cpu"],
        "Microsoft Basic Render Driver": ["wasm", "cpu"],
        None: ["wasm", "cpu"],  # no WebGL at all
    }
    for renderer, expected in cases.items():
        order = page.evaluate(
            "async (renderer) => (await import('./classifier.js')).backendOrder(null, renderer)",
            renderer,
        )
        assert order == expected, renderer
    forced = page.evaluate(
        "async () => (await import('./classifier.js')).backendOrder('webgl', 'SwiftShader')"
    )
    assert forced == ["webgl"]
