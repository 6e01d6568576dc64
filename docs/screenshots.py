"""Take README's two screenshots from a built project (after `make run`): the camera page showing a
photo through a fake camera, and MLflow's comparison of the variants' runs (one run each).

    python docs/screenshots.py --photo data/01_raw/samples/dog/dog.jpeg
    python docs/screenshots.py --project /path/to/built/clone --photo dog.jpeg --output docs/images

Writes page.png and mlflow-compare.png. Needs Debian's Chromium (/usr/bin/chromium), as the tests.
"""

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
from mlflow import MlflowClient
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
]
VIEWPORT = {"width": 1280, "height": 860}


def camera_video(photo: Path, destination: Path) -> Path:
    """A one-frame YUV4MPEG2 video of `photo` at most 640x480: what Chromium's fake camera shows."""
    bgr = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    scale = min(1, 640 / bgr.shape[1], 480 / bgr.shape[0])
    size = (round(bgr.shape[1] * scale) // 2 * 2, round(bgr.shape[0] * scale) // 2 * 2)
    bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    header = f"YUV4MPEG2 W{size[0]} H{size[1]} F30:1 Ip A1:1 C420jpeg\n"
    destination.write_bytes(header.encode() + b"FRAME\n" + yuv.tobytes())
    return destination


@contextmanager
def running(command: list[str], cwd: Path, ready: str):
    """`command` started in `cwd`; yields the first URL it prints on a line holding `ready`."""
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        for line in process.stdout:
            if ready in line:
                yield re.search(r"https?://\S+?/?(?=\s|$|\))", line).group(0).rstrip("/")
                break
        else:
            raise RuntimeError(f"{command[0]} stopped before it was ready")
    finally:
        process.terminate()
        process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def page_screenshot(driver, web_dir: Path, photo: Path, output: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        video = camera_video(photo, Path(scratch) / "camera.y4m")
        serve = [sys.executable, str(ROOT / "web/serve.py"), "--directory", str(web_dir)]
        with running([*serve, "--port", "0", "--quiet"], ROOT, "Serving") as url:
            browser = driver.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    *CHROMIUM_ARGS,
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={video}",
                ],
            )
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{url}/")
            page.wait_for_function(
                "() => window.catDogDebug?.snapshot().frames >= 30", timeout=120_000
            )
            page.screenshot(path=output / "page.png")
            browser.close()


def variant_runs(tracking_uri: str) -> tuple[str, list[str]]:
    """The study's experiment and, per variant, its latest finished run holding test metrics."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("cat_dog_classifier")
    latest: dict[str, str] = {}
    for run in client.search_runs(
        [experiment.experiment_id], "attributes.status = 'FINISHED'", order_by=["start_time ASC"]
    ):
        if "variant" in run.data.tags and "test_accuracy" in run.data.metrics:
            latest[run.data.tags["variant"]] = run.info.run_id
    return experiment.experiment_id, list(latest.values())


# The compare view's tables scroll inside boxes of a fixed height: each box grows to its content
# (the metrics table, virtualised, still renders only its first 17 rows).
UNSCROLL = """() => {
  for (const box of document.querySelectorAll("main *")) {
    if (box.scrollHeight > box.clientHeight + 1) {
      box.style.height = "auto";
      box.style.maxHeight = "none";
      box.style.overflow = "visible";
    }
  }
}"""


def mlflow_screenshot(driver, project: Path, output: Path) -> None:
    store = f"sqlite:///{project / 'mlflow.db'}"
    experiment, runs = variant_runs(store)
    port = free_port()
    mlflow = str(Path(sys.executable).parent / "mlflow")
    command = [mlflow, "ui", "--backend-store-uri", store, "--port", str(port), "--workers", "1"]
    with running(command, project, "Uvicorn running"):
        url = f"http://127.0.0.1:{port}"
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # tall enough for every parameter in which the runs differ and the metrics MLflow renders
        page = browser.new_page(viewport={"width": 1400, "height": 3600})
        query = f"runs={json.dumps(runs)}&experiments={json.dumps([experiment])}"
        page.goto(f"{url}/#/compare-runs?{query}")
        page.get_by_text("Run details").first.wait_for(timeout=120_000)
        time.sleep(3)  # the page settles after its tables
        # The runs' names, the parameters in which they differ and their metrics: without the chat
        # assistant's panel, the plots, the artifacts and the tags.
        page.get_by_role("button", name="Close").click()
        for section in ("Visualizations", "Artifacts", "Tags"):
            page.get_by_text(section, exact=True).first.click()
        page.get_by_role("switch").first.click()  # "Show diff only", of the parameters
        time.sleep(1)
        for _ in range(4):  # inner boxes first, then the boxes around them
            page.evaluate(UNSCROLL)
            time.sleep(0.5)
        page.screenshot(path=output / "mlflow-compare.png")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT, help="a project after make run")
    parser.add_argument("--web-dir", type=Path, help="the page with its models (PROJECT/web)")
    parser.add_argument("--photo", type=Path, required=True, help="what the camera shows")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images")
    arguments = parser.parse_args()
    arguments.output.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        web_dir = arguments.web_dir or arguments.project / "web"
        page_screenshot(driver, web_dir, arguments.photo, arguments.output)
        mlflow_screenshot(driver, arguments.project, arguments.output)
    print(f"Wrote page.png and mlflow-compare.png in {arguments.output}")


if __name__ == "__main__":
    main()
