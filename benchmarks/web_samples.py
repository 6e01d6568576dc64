"""The shipped page's answer for each shared sample photo, shown to it through the fake camera.

    python benchmarks/web_samples.py         # web/ as `dvc repro` left it, its default model
    python benchmarks/web_samples.py --model cnn
    python benchmarks/web_samples.py --photos my_photos/dog/rex.jpg my_photos/cat

For every photo in ../shared/samples/{cat,dog,other} (photos from other sources than the training
set), or in the files and folders `--photos` names (what is expected of each is the name of its
folder, or of a folder above it: cat, dog or other), headless Chromium starts with a fake camera
showing it (scaled to fit 640x480, as a camera frames it), opens the page served by web/serve.py
with the exported model, waits `--frames` live classifications, and reads the answer the page
shows (cat, dog, "not sure" or "No cat or dog"), P(dog) and the "no cat or dog" score, and keeps a
screenshot of the page. Prints a table and writes benchmarks/results/web_samples.md, screenshots
in benchmarks/results/web_samples/ (with `--photos`: web_photos.md and web_photos/).
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
from playwright.sync_api import sync_playwright
from web_latency import CHROMIUM, CHROMIUM_ARGS, ROOT, TIMEOUT_MS, machine

SAMPLES = ROOT.parent / "shared" / "samples"
EXPECTED = {"cat": "cat", "dog": "dog", "other": "neither"}
RESULTS = ROOT / "benchmarks" / "results"


def camera_video(photo: Path, destination: Path) -> Path:
    """A y4m video of `photo` whole, scaled down to fit 640x480 (even sides, as I420 needs)."""
    bgr = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    height, width = bgr.shape[:2]
    scale = min(1, 640 / width, 480 / height)
    size = (round(width * scale) // 2 * 2, round(height * scale) // 2 * 2)
    yuv = cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2YUV_I420)
    header = f"YUV4MPEG2 W{size[0]} H{size[1]} F30:1 Ip A1:1 C420jpeg\nFRAME\n".encode()
    destination.write_bytes(header + yuv.tobytes())
    return destination


def page_answer(video: Path, url: str, frames: int, screenshot: Path) -> dict:
    """The page's last answer after `frames` camera frames, and a screenshot of it."""
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={video}"],
        )
        page = browser.new_context(viewport={"width": 900, "height": 900}).new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.wait_for_function(
            f"() => window.catDogDebug && (catDogDebug.snapshot().frames >= {frames} || "
            "catDogDebug.snapshot().error)"
        )
        snapshot = page.evaluate("catDogDebug.snapshot()")
        page.screenshot(path=screenshot)
        browser.close()
    if snapshot["error"]:
        sys.exit(f"The page failed: {snapshot['error']}")
    return {"model": snapshot["model"], "shown": page_label(snapshot), **snapshot["last"]}


def photos_to_show(paths: list[Path]) -> list[tuple[str, Path]]:
    """(expected answer, photo) for every image file in `paths` (files or folders), the answer read
    from the nearest folder above it named cat, dog or other."""
    found = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for photo in files:
            if photo.suffix.lower() not in (".jpg", ".jpeg", ".png"):
                continue
            folder = next((p.name for p in photo.parents if p.name in EXPECTED), None)
            if folder is None:
                sys.exit(f"{photo}: no folder named cat, dog or other above it")
            found.append((folder, photo))
    return found


def page_label(snapshot: dict) -> str:
    return snapshot["last"]["label"] if snapshot["last"] else "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--web-dir", type=Path, default=ROOT / "web")
    parser.add_argument("--model", help="a model id of the manifest (default: the page's own)")
    parser.add_argument("--frames", type=int, default=30, help="live frames before reading")
    parser.add_argument(
        "--photos",
        type=Path,
        nargs="+",
        help="photos or folders to show instead of the shared samples (in cat/, dog/, other/)",
    )
    arguments = parser.parse_args()
    photos = photos_to_show(arguments.photos or [SAMPLES / folder for folder in EXPECTED])
    report_name = "web_photos" if arguments.photos else "web_samples"
    manifest_path = arguments.web_dir / "models" / "manifest.json"
    if not manifest_path.is_file():
        sys.exit(f"{manifest_path} is missing: run `dvc repro` (or the export pipeline) first")
    manifest = json.loads(manifest_path.read_text())

    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "web" / "serve.py"),
            *("--port", "0", "--quiet", "--directory", str(arguments.web_dir)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    shots = RESULTS / report_name
    shots.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        base = re.search(r"(http://\S+/)", server.stdout.readline()).group(1)
        url = base + (f"?model={arguments.model}" if arguments.model else "")
        with tempfile.TemporaryDirectory() as scratch:
            for folder, photo in photos:
                video = camera_video(photo, Path(scratch) / "camera.y4m")
                shot = shots / f"{folder}_{photo.stem}.png"
                answer = page_answer(video, url, arguments.frames, shot)
                rows.append((folder, photo.name, EXPECTED[folder], answer, shot))
                print(folder, photo.name, answer, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)

    right = sum(answer["shown"] == expected for _, _, expected, answer, _ in rows)
    model = rows[0][3]["model"] if rows else "?"
    entry = next((m for m in manifest["models"] if m["id"] == model), {})
    threshold = (entry.get("neither") or {}).get("threshold")
    lines = [
        "# The shipped page on "
        + ("the photos given" if arguments.photos else "the shared sample photos")
        + ", through the fake camera",
        "",
        f"Command: `python benchmarks/web_samples.py {' '.join(sys.argv[1:])}`. Model: `{model}`"
        f' ("no cat or dog" threshold: {threshold}). Machine: {machine()}.',
        f"Right: {right} of {len(rows)}.",
        "",
        "| photo | expected | page's answer | P(dog) | no-cat-or-dog score | screenshot |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for folder, name, expected, answer, shot in rows:
        neither = "" if answer["neither"] is None else f"{answer['neither']:.3f}"
        lines.append(
            f"| {folder}/{name} | {expected} | {answer['shown']} | {answer['dog']:.3f} | {neither} "
            f"| {shot.relative_to(RESULTS)} |"
        )
    report = "\n".join([*lines, ""])
    print(report)
    (RESULTS / f"{report_name}.md").write_text(report)


if __name__ == "__main__":
    main()
