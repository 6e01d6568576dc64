"""Per-frame TF.js inference latency of every exported model, per backend, in headless Chromium.

    python benchmarks/web_latency.py     # web/ as `kedro run --pipelines export` left it
    python benchmarks/web_latency.py --frames 300 --backends wasm cpu

For each model in web/models/manifest.json and each backend (WASM, CPU, WebGL) the page is
served by web/serve.py, opened in /usr/bin/chromium, and times `--frames` runs of the model on a
real photo after a warm-up (model only: input upload from the preprocessed pixels to the
probability read back). It also times the whole live frame (640x480 capture, preprocessing,
model) in the page's camera loop, fed by a fake camera. Headless Chromium has no GPU: its WebGL
is SwiftShader, which the page itself skips unless asked for it (?backend=webgl).
Prints a table and writes benchmarks/results/web_latency.md.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
# label -> page query
BACKENDS = {
    "wasm": "backend=wasm",
    "cpu": "backend=cpu",
    "webgl": "backend=webgl",
}
PHOTO = ROOT.parent / "shared" / "samples" / "dog" / "dog.jpeg"


def camera_video(directory: Path) -> Path:
    """A 640x480 fake camera showing a real photo (Chromium loops the frame)."""
    bgr = cv2.resize(cv2.imread(str(PHOTO)), (640, 480), interpolation=cv2.INTER_AREA)
    path = directory / "camera.y4m"
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    path.write_bytes(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\nFRAME\n" + yuv.tobytes())
    return path


def model_latencies(page: Page, frames: int, warmup: int) -> list[float]:
    return page.evaluate(
        """async ([url, frames, warmup]) => {
            const values = await catDogDebug.preprocessUrl(url);
            const times = [];
            for (let i = 0; i < warmup + frames; i++) {
                const { ms } = await catDogDebug.predict(values);
                if (i >= warmup) times.push(ms);
            }
            return times;
        }""",
        [f"samples/{PHOTO.name}", frames, warmup],
    )


def wait_for_model(page: Page, url: str) -> str | None:
    """Open the page; return its error message if the backend or the model did not start."""
    page.goto(url)
    page.wait_for_function(
        "window.catDogDebug && (catDogDebug.snapshot().model || catDogDebug.snapshot().error)",
        timeout=120_000,
    )
    return page.evaluate("catDogDebug.snapshot().error")


def measure(page: Page, url: str, frames: int, warmup: int) -> dict:
    error = wait_for_model(page, f"{url}&camera=off")
    if error:
        return {"error": error}
    model_ms = model_latencies(page, frames, warmup)
    backend = page.inner_text("#backend")
    wait_for_model(page, url)  # now with the camera and the live loop
    live_frames = min(frames, 50)
    page.wait_for_function(
        f"catDogDebug.snapshot().recentFrameMs.length >= {live_frames + 5}", timeout=300_000
    )
    frame_ms = page.evaluate("catDogDebug.snapshot().recentFrameMs")[5:]
    return {
        "backend": backend,
        "p50": float(np.percentile(model_ms, 50)),
        "p95": float(np.percentile(model_ms, 95)),
        "frame_p50": float(np.percentile(frame_ms, 50)),
    }


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    chromium = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True, check=True
    ).stdout
    cpu = model.group(1) if model else platform.machine()
    return f"{cpu}, {len(os.sched_getaffinity(0))} cores usable, {chromium.strip()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--web-dir", type=Path, default=ROOT / "web")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS))
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/web_latency.md")
    args = parser.parse_args()

    manifest_path = args.web_dir / "models" / "manifest.json"
    if not manifest_path.is_file():
        sys.exit(f"{manifest_path} is missing: run `kedro run --pipelines export` first")
    manifest = json.loads(manifest_path.read_text())
    samples = args.web_dir / "samples"
    samples.mkdir(exist_ok=True)
    (samples / PHOTO.name).write_bytes(PHOTO.read_bytes())  # served from the page's own origin

    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "web" / "serve.py"),
            *("--port", "0", "--quiet", "--directory", str(args.web_dir)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    rows = []
    try:
        base = re.search(r"(http://\S+/)", server.stdout.readline()).group(1)
        with tempfile.TemporaryDirectory() as scratch, sync_playwright() as driver:
            video = camera_video(Path(scratch))
            browser = driver.chromium.launch(
                executable_path=CHROMIUM,
                args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={video}"],
            )
            for entry in manifest["models"]:
                for label in args.backends:
                    page = browser.new_page()
                    url = f"{base}?model={entry['id']}&interval=1&{BACKENDS[label]}"
                    result = measure(page, url, args.frames, args.warmup)
                    page.close()
                    rows.append((entry, label, result))
                    print(entry["id"], label, result, flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        (samples / PHOTO.name).unlink()
        if not any(samples.iterdir()):
            samples.rmdir()

    lines = [
        "| model | version | size (MB) | backend | model p50 (ms) | model p95 (ms) "
        "| live frame p50 (ms) |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for entry, label, result in rows:
        size = f"{entry['size_bytes'] / 1e6:.2f}"
        head = f"| {entry['id']} | {entry['version']} | {size} |"
        if "error" in result:
            lines.append(f"{head} {label} | unavailable: {result['error']} | | |")
        else:
            lines.append(
                f"{head} {result['backend']} | {result['p50']:.2f} | {result['p95']:.2f} "
                f"| {result['frame_p50']:.2f} |"
            )
    report = "\n".join(
        [
            "# TF.js latency in headless Chromium",
            "",
            f"Command: `python benchmarks/web_latency.py --frames {args.frames}`. "
            f"Machine: {machine()}."
            " Model: one 1-image inference on a real photo, input upload to read-back,"
            f" {args.frames} runs after {args.warmup} warm-up. Live frame: the page's"
            " camera loop (640x480 capture, preprocessing, model, read-back).",
            "",
            *lines,
            "",
        ]
    )
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)


if __name__ == "__main__":
    main()
