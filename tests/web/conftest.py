"""Web page fixtures: the export pipeline's real output served by web/serve.py, driven in Chromium.

The page under test is web/ with TF.js from web/vendor/ (`npm ci && npm run build`) and the models
a plain `kedro run` trained on real photos and exported with the project's own export settings
(float16 for the CNNs, as `dvc repro` ships them).
"""

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.conftest import SmallProject

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class ServedPage:
    url: str  # http://127.0.0.1:<port>/
    web_dir: Path
    manifest: dict  # models/manifest.json, as exported

    def version(self, model_id: str) -> str:
        return next(m["version"] for m in self.manifest["models"] if m["id"] == model_id)


@pytest.fixture(scope="session")
def exported_web_dir(
    project_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
    trained_project: SmallProject,
    samples_dir: Path,
) -> Path:
    """The page's folder with the trained project's exported models (the champion, `transfer`,
    and `cnn`), TF.js and the sample photos."""
    vendor = project_root / "web" / "vendor"
    if not (vendor / "tf-core.min.js").is_file():
        pytest.fail(f"{vendor} is missing: run `npm ci && npm run build` in {vendor.parent}")
    web_dir = tmp_path_factory.mktemp("web") / "web"
    shutil.copytree(project_root / "web", web_dir, ignore=shutil.ignore_patterns("node_modules"))
    shutil.rmtree(web_dir / "models", ignore_errors=True)
    shutil.copytree(trained_project.path / "web" / "models", web_dir / "models")
    # The samples, served from the page's own origin so that it can fetch them.
    shutil.copytree(samples_dir, web_dir / "samples")
    return web_dir


@pytest.fixture(scope="session")
def served_page(project_root: Path, exported_web_dir: Path) -> Iterator[ServedPage]:
    """The documented serve command, on a free port."""
    server = subprocess.Popen(
        [
            sys.executable,
            str(project_root / "web" / "serve.py"),
            *("--port", "0", "--quiet", "--directory", str(exported_web_dir)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert match, f"serve.py printed {line!r}"
        manifest = json.loads((exported_web_dir / "models" / "manifest.json").read_text())
        yield ServedPage(match.group(1), exported_web_dir, manifest)
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as driver:
        yield driver


def write_y4m(photo: Path, destination: Path) -> Path:
    """A one-frame YUV4MPEG2 video of a photo: what Chromium's fake camera shows, looping."""
    bgr = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    height, width = (size - size % 2 for size in bgr.shape[:2])  # 4:2:0 needs even sides
    yuv = cv2.cvtColor(bgr[:height, :width], cv2.COLOR_BGR2YUV_I420)
    header = f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n"
    destination.write_bytes(header.encode() + b"FRAME\n" + yuv.tobytes())
    return destination


@pytest.fixture
def launch_chromium(playwright: Playwright, tmp_path: Path) -> Iterator[Callable[..., Browser]]:
    """Start headless Chromium whose camera shows `camera_photo`, has no camera, or asks."""
    browsers: list[Browser] = []

    def launch(camera_photo: Path | None = None, grant_camera: bool = True) -> Browser:
        args = list(CHROMIUM_ARGS)
        if grant_camera:
            args.append("--use-fake-ui-for-media-stream")  # accepts the permission prompt
        if camera_photo is not None:
            video = write_y4m(camera_photo, tmp_path / f"{camera_photo.stem}.y4m")
            args += [
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ]
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        browsers.append(browser)
        return browser

    yield launch
    for browser in browsers:
        browser.close()


@pytest.fixture(scope="session")
def keras_models(trained_project: SmallProject) -> dict:
    """The Keras models that were exported, by variant: the very files DVC tracks."""
    import keras  # noqa: PLC0415 (only the parity tests need it)

    models = trained_project.path / "data" / "06_models" / "variants"
    return {path.stem: keras.saving.load_model(path) for path in models.glob("*.keras")}
