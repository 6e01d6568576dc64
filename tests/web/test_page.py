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
    champion = served_page.registry.versions["transfer"]
    expect(page.locator("#model-info")).to_contain_text(
        f"transfer · cat_dog_classifier v{champion}"
    )
    expect(page.locator("#model-info")).to_contain_text("@champion")
    expect(page.locator("#model-info")).to_contain_text("test accuracy")
    expect(page.locator("#backend")).to_contain_text(state["backend"])
    assert state["backend"] in {"webgl", "wasm", "cpu"}
    expect(page.locator("#inference-ms")).to_have_text(re.compile(r"^\d+\.\d ms$"))
    expect(page.locator("#fps")).to_have_text(re.compile(r"^\d+$"))
