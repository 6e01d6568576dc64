"""Web page fixtures: the export pipeline's real output served by web/serve.py, driven in Chromium.

The page under test is web/ with TF.js from web/vendor/ (`npm ci && npm run build`) and the models
a plain `kedro run` trained on real photos and exported with the project's own export settings
(float16 for the CNNs, float32 for `transfer`, as `dvc repro` ships them).
"""

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.conftest import PROJECT_ROOT, SmallProject

from .pages import (
    TIMEOUT_MS,
    TOLERANCE,
    frame_pixels,
    sample_photos,
    training_input,
    training_pixels,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# No GPU here: Chromium's WebGL runs on SwiftShader through ANGLE anyway; these flags say so.
SOFTWARE_WEBGL_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


@dataclass(frozen=True)
class ServedPage:
    url: str  # http://127.0.0.1:<port>/
    web_dir: Path
    manifest: dict  # models/manifest.json, as exported

    def entry(self, model_id: str) -> dict:
        return next(m for m in self.manifest["models"] if m["id"] == model_id)

    def lineage(self, model_id: str) -> dict:
        """The registry's view of a model, as exported beside the manifest (models/lineage.json)."""
        lineage = json.loads((self.web_dir / "models" / "lineage.json").read_text())
        return lineage[self.entry(model_id)["model_md5"]]

    def version(self, model_id: str) -> str:
        return self.lineage(model_id)["version"]


def copy_page(destination: Path, models: Path) -> Path:
    """web/ as a user's checkout has it after `npm run build`, with `models` as its models/."""
    vendor = PROJECT_ROOT / "web" / "vendor"
    if not (vendor / "tf-core.min.js").is_file():
        pytest.fail(f"{vendor} is missing: run `npm ci && npm run build` in {vendor.parent}")
    ignored = shutil.ignore_patterns("node_modules")
    shutil.copytree(PROJECT_ROOT / "web", destination, ignore=ignored)
    shutil.rmtree(destination / "models", ignore_errors=True)
    shutil.copytree(models, destination / "models")
    return destination


@pytest.fixture(scope="session")
def exported_web_dir(
    tmp_path_factory: pytest.TempPathFactory, trained_project: SmallProject
) -> Path:
    """The page's folder with the trained project's exported models (the champion, `transfer`,
    and `cnn`) and TF.js."""
    web_dir = tmp_path_factory.mktemp("web") / "web"
    return copy_page(web_dir, trained_project.path / "web" / "models")


@contextmanager
def serve(web_dir: Path, *options: str) -> Iterator[str]:
    """The documented serve command on a free port, for as long as the block runs: its URL."""
    server = subprocess.Popen(
        [
            sys.executable,
            str(PROJECT_ROOT / "web" / "serve.py"),
            *("--port", "0", "--quiet", "--directory", str(web_dir), *options),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        match = re.search(r"at (https?://127\.0\.0\.1:\d+/)", line)
        assert match, f"serve.py printed {line!r}"
        yield match.group(1)
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def served_page(exported_web_dir: Path) -> Iterator[ServedPage]:
    with serve(exported_web_dir) as url:
        manifest = json.loads((exported_web_dir / "models" / "manifest.json").read_text())
        yield ServedPage(url, exported_web_dir, manifest)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as driver:
        yield driver


def write_y4m(photo: Path, destination: Path, size: tuple[int, int] | None = None) -> Path:
    """A one-frame YUV4MPEG2 video of a photo (stretched to `size`, width x height, if given):
    what Chromium's fake camera shows, looping. 4:2:0 chroma, BT.601 limited range (OpenCV's)."""
    bgr = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if size is not None:
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    height, width = (side - side % 2 for side in bgr.shape[:2])  # 4:2:0 needs even sides
    yuv = cv2.cvtColor(bgr[:height, :width], cv2.COLOR_BGR2YUV_I420)
    header = f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n"
    destination.write_bytes(header.encode() + b"FRAME\n" + yuv.tobytes())
    return destination


def camera_video(photo: Path, destination: Path) -> Path:
    """The fake camera's video of `photo`, shown whole: Chromium crops frames beyond the page's
    ideal 640x480 (512x512 → 480x512), so larger photos are scaled down to fit first."""
    height, width = cv2.imread(str(photo), cv2.IMREAD_COLOR).shape[:2]
    scale = min(1, 640 / width, 480 / height)
    return write_y4m(photo, destination, size=(round(width * scale), round(height * scale)))


def y4m_rgb(video: Path) -> np.ndarray:
    """The first frame of a y4m file as RGB, decoded as Chromium decodes camera frames (BT.601
    limited range, each chroma sample shared by a 2x2 block; measured: within one level)."""
    header, frames = video.read_bytes().split(b"\n", 1)
    fields = {field[:1]: field[1:] for field in header.split()[1:]}
    width, height = int(fields[b"W"]), int(fields[b"H"])
    frame = frames[len(b"FRAME\n") : len(b"FRAME\n") + width * height * 3 // 2]
    yuv = np.frombuffer(frame, np.uint8).reshape(height * 3 // 2, width)
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)


@pytest.fixture
def launch_chromium(playwright: Playwright, tmp_path: Path) -> Iterator[Callable[..., Browser]]:
    """Start headless Chromium whose camera shows `camera_photo` (a photo, or a ready .y4m), has no
    camera, or asks; `webgl` says so with software WebGL's flags. `cameras` > 1: that many cameras
    showing Chromium's moving test pattern (a photo's video makes them one camera)."""
    browsers: list[Browser] = []

    def launch(
        camera_photo: Path | None = None,
        grant_camera: bool = True,
        webgl: bool = False,
        args: tuple[str, ...] = (),
        cameras: int = 1,
    ) -> Browser:
        assert camera_photo is None or cameras == 1, "a photo's video is one camera"
        flags = [*CHROMIUM_ARGS, *(SOFTWARE_WEBGL_ARGS if webgl else ["--disable-gpu"]), *args]
        if grant_camera:
            flags.append("--use-fake-ui-for-media-stream")  # accepts the permission prompt
        if camera_photo is not None:
            video = camera_photo
            if camera_photo.suffix != ".y4m":
                video = write_y4m(camera_photo, tmp_path / f"{camera_photo.stem}.y4m")
            flags += [
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ]
        elif cameras > 1:
            flags.append(f"--use-fake-device-for-media-stream=device-count={cameras}")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=flags)
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


@pytest.fixture(scope="module")
def module_page(playwright: Playwright) -> Iterator[Page]:
    """The page as checked out (no models needed), for a module's tests of its JS modules."""
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, "--disable-gpu"]
    )
    with serve(PROJECT_ROOT / "web") as url:
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{url}?camera=off")
        yield page
    browser.close()


# The third answer on a model the small project trains (test_neither.py says why `cnn`).
VARIANT = "cnn"


# The page's camera path against training's preprocessing of the same frame: a pixel may differ by
# up to two levels (test_camera.py), which moved P(dog) by up to 0.003.
CAMERA_TOLERANCE = 0.01


@dataclass(frozen=True)
class NeitherExport:
    page: ServedPage
    keras_scores: dict[str, tuple[float, float]]  # photo name -> Keras's (P(dog), neither_score)
    other_video: Path  # the camera showing a photo of something else, scoring above the threshold
    pet_video: Path  # the camera showing a pet, scoring below it


def widest_split(scores: dict[Path, float]) -> tuple[Path, Path]:
    """The "other" photo and the pet photo that score highest above it: a threshold between the
    two says "No cat or dog" for the one and not for the other."""
    others = [photo for photo in scores if photo.parent.name == "other"]
    pets = [photo for photo in scores if photo.parent.name != "other"]
    pairs = [(o, p) for o in others for p in pets if scores[o] > scores[p]]
    assert pairs, f"every photo of something else scores below every pet: {scores}"
    return max(pairs, key=lambda pair: scores[pair[0]] - scores[pair[1]])


@pytest.fixture(scope="session")
def neither_export(
    trained_project: SmallProject,
    tmp_path_factory: pytest.TempPathFactory,
    samples_dir: Path,
) -> Iterator[NeitherExport]:
    """The page serving the test project's `cnn` with a third answer, as the export writes it."""
    import keras  # noqa: PLC0415 (TensorFlow only where it runs)

    from cat_dog_classifier.model_files import model_md5  # noqa: PLC0415
    from cat_dog_classifier.neither import fit_detector, with_neither_output  # noqa: PLC0415
    from cat_dog_classifier.pipelines.export.nodes import export_tfjs_models  # noqa: PLC0415

    project = trained_project.path
    parameters = yaml.safe_load((project / "conf/base/parameters_train.yml").read_text())
    settings = parameters["variants"]["transfer"]["neither"]  # the project's detector settings
    decision = json.loads((project / "data/08_reporting/champion.json").read_text())
    record = decision["candidates"][VARIANT]
    model = keras.saving.load_model(project / f"data/06_models/variants/{VARIANT}.keras")
    with np.load(project / "data/05_model_input/gray100.npz") as sets:
        detector = fit_detector(model, dict(sets), settings)
    with_neither = with_neither_output(model, detector)

    def keras_outputs(images: list[np.ndarray]) -> tuple[list[float], list[float]]:
        outputs = with_neither.predict(np.stack(images).astype("float32"), verbose=0)
        dog, neither = outputs["dog_probability"].ravel(), outputs["neither_score"].ravel()
        return dog.tolist(), neither.tolist()

    scratch = tmp_path_factory.mktemp("neither")
    photos = sample_photos(samples_dir)
    dog, neither = keras_outputs([training_input(photo, record) for photo in photos])
    # Every photo stretched to the camera's 640x480 (the page stretches it to the model's input
    # anyway): videos of one size, which test_evidence.py plays one after another.
    videos = {
        photo: write_y4m(photo, scratch / f"{photo.stem}.y4m", (640, 480)) for photo in photos
    }
    frames = [training_pixels(frame_pixels(y4m_rgb(v), record), record) for v in videos.values()]
    _, camera_neither = keras_outputs(frames)
    scores = dict(zip(photos, camera_neither, strict=True))
    other, pet = widest_split(scores)
    assert scores[other] - scores[pet] > 2 * (CAMERA_TOLERANCE + TOLERANCE["none"])
    threshold = (scores[other] + scores[pet]) / 2

    model_file = scratch / f"{VARIANT}.keras"
    with_neither.save(model_file)
    model_bytes = model_file.read_bytes()
    exported = {
        **record,
        "id": VARIANT,
        "aliases": [],
        "model_md5": model_md5(model_bytes),
        "neither": {"output": "neither_score", "threshold": threshold},
    }
    # float32, as `transfer`, the variant with the third answer, ships (float16 moved this
    # detector's score by up to 0.01: chelsea.png 0.258 against Keras's 0.248).
    files = export_tfjs_models([exported], b"", [], **{VARIANT: model_bytes})
    models = scratch / "models"
    for name, data in files.items():
        (models / name).parent.mkdir(parents=True, exist_ok=True)
        (models / name).write_bytes(data)
    web_dir = copy_page(scratch / "web", models)
    with serve(web_dir) as url:
        manifest = json.loads((models / "manifest.json").read_text())
        pairs = zip(photos, dog, neither, strict=True)
        keras_scores = {photo.name: (d, n) for photo, d, n in pairs}
        page = ServedPage(url, web_dir, manifest)
        yield NeitherExport(page, keras_scores, videos[other], videos[pet])
