"""The page as a phone on the local network uses it: served over HTTPS by `serve.py --certfile`
(README: On a phone), a phone's screen, touch and cores, a portrait back camera, a photo from the
phone's gallery, then no network at all; and a phone's two cameras, switched back and forth."""

import subprocess
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest
from playwright.sync_api import Browser, Playwright, expect

from tests.conftest import SmallProject

from .conftest import copy_page, serve, write_y4m
from .pages import BAND, TIMEOUT_MS, snapshot, wait_for_frames
from .test_offline import wait_until_offline_ready
from .test_parity import phone_photo
from .test_user_actions import camera_ids, choose, keeps_classifying, live_devices, open_tracked

# A mid-range Android phone, as Chromium's device emulation describes one.
PHONE = {
    "viewport": {"width": 412, "height": 915},
    "device_scale_factor": 2.625,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/156.0.0.0 Mobile Safari/537.36"
    ),
}


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate, made as README's phone instructions make one."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=catdog", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.slow
def test_a_phone_over_https_classifies_its_camera_and_photos_then_works_offline(
    trained_project: SmallProject,
    launch_chromium: Callable[..., Browser],
    certificate: tuple[Path, Path],
    samples_dir: Path,
    tmp_path: Path,
):
    web_dir = copy_page(tmp_path / "web", trained_project.path / "web" / "models")
    # The back camera held upright: a portrait frame, the middle of a real photo.
    landscape = cv2.imread(str(samples_dir / "dog/puppy.jpg"))  # 640x512
    height = landscape.shape[0]
    left = (landscape.shape[1] - height * 3 // 4) // 2
    portrait = tmp_path / "portrait.png"
    cv2.imwrite(str(portrait), landscape[:, left : left + height * 3 // 4])
    camera = write_y4m(portrait, tmp_path / "portrait.y4m", size=(360, 480))
    # The user accepted the self-signed certificate once; Chromium then also lets the service
    # worker install, which its per-context certificate exception does not.
    browser = launch_chromium(camera, args=("--ignore-certificate-errors",))
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    cert, key = certificate
    with serve(web_dir, "--certfile", str(cert), "--keyfile", str(key)) as url:
        assert url.startswith("https://")
        page.goto(url)
        wait_for_frames(page, 3)
        state = snapshot(page)
        assert state["error"] is None
        # Cross-origin isolated: what lets TF.js's WASM use threads on a phone with the cores for it
        # (not emulated: on this 2-core machine, 4 threads took 0.8 s a frame).
        assert page.evaluate("isSecureContext") and state["crossOriginIsolated"]
        assert state["backend"] == "wasm"
        assert (state["last"]["width"], state["last"]["height"]) == (360, 480)
        expect(page.locator("#label")).to_have_text("dog")
        # Nothing wider than the phone's screen, settings open too: no sideways scrolling.
        page.locator("#settings summary").tap()
        expect(page.locator("#settings")).to_have_attribute("open", "")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
        for control in ("#camera-button", "#model-select", "label.file"):
            box = page.locator(control).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["viewport"]["width"]
        wait_until_offline_ready(page, ["transfer", "cnn"])
        page.screenshot(path=tmp_path / "phone.png")

    # No network: the server is gone. The page, TF.js and the models come from the offline copy.
    page.reload()
    page.wait_for_function("() => window.catDogDebug !== undefined")
    wait_for_frames(page, 3)
    expect(page.locator("#label")).to_have_text("dog")
    # A photo from the phone's gallery, stored sideways with its EXIF orientation; chosen by tap.
    jpeg, upright = phone_photo(samples_dir / "cat/black_cat.jpg", orientation=6)
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(jpeg)
    with page.expect_file_chooser() as chooser:
        page.locator("label.file").tap()
    chooser.value.set_files(photo)
    page.wait_for_function(
        "name => catDogDebug.snapshot().last?.source === `photo ${name}`", arg=photo.name
    )
    last = snapshot(page)["last"]
    assert (last["height"], last["width"]) == upright.shape[:2]  # turned upright: 640 wide
    assert last["dog"] < BAND[0], last  # a cat (or, by the third answer, "no cat or dog")


@pytest.mark.slow
def test_a_phone_switches_between_its_two_cameras_over_https(
    trained_project: SmallProject,
    playwright: Playwright,
    launch_chromium: Callable[..., Browser],
    certificate: tuple[Path, Path],
    tmp_path: Path,
):
    """Playwright's own Pixel 7 with a front and a back camera (Chromium's two fake ones): the page
    opens one, the user taps to the other and back, quickly too; each time exactly the chosen camera
    is live and the page goes on classifying it."""
    web_dir = copy_page(tmp_path / "web", trained_project.path / "web" / "models")
    browser = launch_chromium(cameras=2, args=("--ignore-certificate-errors",))
    phone = playwright.devices["Pixel 7"]
    context = browser.new_context(**phone)
    cert, key = certificate
    with serve(web_dir, "--certfile", str(cert), "--keyfile", str(key)) as url:
        assert url.startswith("https://")
        page = open_tracked(context, url)
        assert page.evaluate("isSecureContext")
        assert page.evaluate("navigator.maxTouchPoints") > 0  # the phone's touch screen
        first, second = camera_ids(page)
        assert live_devices(page) == [first]
        # The camera list fits the phone's screen.
        box = page.locator("#camera-select").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= phone["viewport"]["width"]
        for chosen in (second, first):
            page.locator("#camera-select").select_option(chosen)
            page.wait_for_function(
                "id => liveTracks().length === 1 && liveTracks()[0].getSettings().deviceId === id",
                arg=chosen,
            )
            keeps_classifying(page)
            assert live_devices(page) == [chosen]
        # Then front, back, front as fast as a thumb can: the last one stays on, alone.
        choose(page, "#camera-select", second, first, second, while_="opening")
        page.wait_for_function("() => catDogDebug.snapshot().camera === 'on'")
        keeps_classifying(page)
        assert live_devices(page) == [second]
        assert snapshot(page)["error"] is None
        assert page.evaluate("document.documentElement.scrollWidth") <= phone["viewport"]["width"]


@pytest.mark.slow  # the page needs the small project trained and exported
@pytest.mark.parametrize("width", [320, 412, 720, 1280])
def test_every_answer_takes_one_line_of_the_same_height(
    served_page, launch_chromium: Callable[..., Browser], width: int
):
    """From a small phone to a laptop, each answer fits its line and the scale below it stays put
    as the answer changes from frame to frame (a wrapped "No cat or dog" pushed it down)."""
    browser = launch_chromium(grant_camera=False)
    page = browser.new_context(viewport={"width": width, "height": 800}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{served_page.url}?camera=off")
    page.wait_for_function("() => window.catDogDebug !== undefined")
    layouts = page.evaluate(
        """async () => {
            const { ResultView, LABEL_TEXT } = await import("./view.js");
            const view = new ResultView();
            const label = document.getElementById("label");
            const scale = document.getElementById("scale");
            return Object.keys(LABEL_TEXT).map((answer) => {
                view.show(answer, 0.5, answer === "neither" ? 0.9 : 0.1, "test");
                return {
                    answer,
                    height: label.getBoundingClientRect().height,
                    overflow: label.scrollWidth - label.clientWidth,
                    scaleTop: scale.getBoundingClientRect().top,
                };
            });
        }"""
    )
    assert [layout["answer"] for layout in layouts] == ["cat", "dog", "unsure", "neither"]
    assert all(layout["overflow"] <= 0 for layout in layouts), layouts
    assert len({layout["height"] for layout in layouts}) == 1, layouts
    assert len({layout["scaleTop"] for layout in layouts}) == 1, layouts
    assert page.evaluate("document.documentElement.scrollWidth") <= width
