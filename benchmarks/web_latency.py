"""The shipped page's speed and memory, per exported model and TF.js backend, in headless Chromium.

    python benchmarks/web_latency.py     # web/ as `kedro run --pipelines export` left it
    python benchmarks/web_latency.py --frames 300 --backends wasm cpu --models cnn transfer

The models are measured as exported (web/models/manifest.json: float16 for the CNNs, float32 for
`transfer`), the page served by web/serve.py, in /usr/bin/chromium with a fake camera showing a
real photo at 640x480. Per model and backend:
- model: one inference on that photo's preprocessed pixels (upload to read-back), `--frames` runs
  after `--warmup`;
- live: the page as users run it, camera on at the default interval (20 ms), warm: the frames
  classified after its first `--settle` seconds, each from the frame's arrival to the answer shown
  (read, preprocess, model, view);
- heap: JS heap growth over 1,000 frames of the loop's own work (`--heap-frames`), the median of 3
  such stretches after 4,000 frames of warm-up (`--heap-warmup`), from heap snapshots taken
  through the DevTools protocol after a full garbage collection: the page's own objects, and
  everything, V8's compiled code included (WASM only: the backend pages use);
- first load: bytes over the network and seconds from navigation to the model ready, from an
  empty cache (WASM).
Headless Chromium has no GPU: its WebGL is SwiftShader, which the page skips unless asked
(?backend=webgl). WASM and CPU are measured in a Chromium started with --disable-gpu (software
compositing, as on a machine without a GPU): with SwiftShader on, camera frames live in its GPU
process, and each read of one took 14-25 ms instead of 0.5.
Prints a table and writes benchmarks/results/web_latency.md.

    python benchmarks/web_latency.py --transfer-sizes 160 192 224 --backends wasm

measures instead `transfer` at each input size, built from the project's parameters with the
ImageNet weights and its detector's layers (placeholder statistics: latency depends on the
architecture, not on trained weights), exported as `dvc repro` exports it, in a copy of web/.
With `--unfolded`, each size is exported a second time without folding its batch normalisations
into the convolutions (`transfer_<size>_unfolded`), measured in the same run right after it.
"""

import argparse
import base64
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from playwright.sync_api import Browser, CDPSession, Page, sync_playwright

from cat_dog_classifier.images import ImageSpec, preprocess_image

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
# No GPU here. For WebGL, SwiftShader, as the page's tests run it. For the other backends, Chromium
# as it runs on a machine without a GPU: software compositing. With SwiftShader on, camera frames
# live in its GPU process, and reading one back took 14-25 ms instead of 0.5 (any way of reading).
BACKEND_ARGS = {
    "webgl": ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
    "wasm": ["--disable-gpu"],
    "cpu": ["--disable-gpu"],
}
BACKENDS = ("wasm", "cpu", "webgl")
# The camera's picture: a real dog from elsewhere than PetImages (--photo chooses another).
PHOTO = ROOT.parent / "shared" / "samples" / "dog" / "dog.jpeg"
TIMEOUT_MS = 600_000


def photo_file(text: str) -> Path:
    """--photo's value, which must be a file (its default is a local copy a user may not have)."""
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file; give a photo of a pet")
    return Path(text)


def camera_video(directory: Path, photo: Path) -> Path:
    """A 640x480 fake camera showing a real photo (Chromium loops the frame)."""
    bgr = cv2.resize(cv2.imread(str(photo)), (640, 480), interpolation=cv2.INTER_AREA)
    path = directory / "camera.y4m"
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    path.write_bytes(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\nFRAME\n" + yuv.tobytes())
    return path


def open_page(browser: Browser, url: str) -> Page | str:
    """The page at `url` with its model ready, or the page's error message."""
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_function(
        "() => window.catDogDebug && (catDogDebug.snapshot().model || catDogDebug.snapshot().error)"
    )
    error = page.evaluate("catDogDebug.snapshot().error")
    if error:
        page.context.close()
        return error
    return page


def model_latencies(page: Page, values: list[float], frames: int, warmup: int) -> list[float]:
    return page.evaluate(
        """async ([values, frames, warmup]) => {
            const times = [];
            for (let i = 0; i < warmup + frames; i++) {
                const { ms } = await catDogDebug.predict(values);
                if (i >= warmup) times.push(ms);
            }
            return times;
        }""",
        [values, frames, warmup],
    )


def preprocessing_times(page: Page, frame: np.ndarray, entry: dict, runs: int) -> dict:
    """Median milliseconds to turn one RGB camera frame into the entry's input, per engine of
    web/preprocess.js (WebAssembly, and the plain JS of browsers without it), taken in turn."""
    rgba = np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)])
    return page.evaluate(
        """async ([data, width, height, input, runs]) => {
            const { Preprocessor } = await import("./preprocess.js");
            const rgba = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const engines = { wasm: await Preprocessor.create(input, "wasm"),
                              js: await Preprocessor.create(input, "js") };
            const times = { wasm: [], js: [] };
            for (let i = 0; i < 20 + runs; i++) {
                for (const [name, preprocessor] of Object.entries(engines)) {
                    const start = performance.now();
                    preprocessor.run(rgba, width, height);
                    if (i >= 20) times[name].push(performance.now() - start);
                }
            }
            const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
            return { wasm: median(times.wasm), js: median(times.js), runs };
        }""",
        [
            base64.b64encode(rgba.tobytes()).decode(),
            frame.shape[1],
            frame.shape[0],
            {key: entry["input"][key] for key in ("height", "width", "channels")},
            runs,
        ],
    )


def kernel_times(page: Page, entry: dict, runs: int) -> dict[str, float]:
    """Mean milliseconds per inference in each TF.js kernel (`tf.profile`, after 10 warm-up runs) of
    the entry's model, loaded a second time beside the page's; `wall` is a profiled run's time."""
    return page.evaluate(
        """async ([url, runs]) => {
            const manifest = new URL("models/manifest.json", document.baseURI);
            const model = await tf.loadGraphModel(new URL(url, manifest).href);
            const shape = model.inputs[0].shape.map((size) => (size === -1 ? 1 : size));
            const input = tf.zeros(shape);
            const infer = async () => {
                const outputs = [model.execute(input)].flat();
                await outputs[0].data();
                tf.dispose(outputs);
            };
            for (let i = 0; i < 10; i++) await infer();
            const times = { wall: 0 };
            for (let i = 0; i < runs; i++) {
                const started = performance.now();
                const profile = await tf.profile(infer);
                times.wall += (performance.now() - started) / runs;
                for (const kernel of profile.kernels) {
                    // "x__op" is the op around kernel x, timed again: the kernels alone.
                    if (kernel.name.endsWith("__op")) continue;
                    const ms = (await kernel.kernelTimeMs) / runs;
                    times[kernel.name] = (times[kernel.name] ?? 0) + ms;
                }
            }
            tf.dispose(input);
            model.dispose();
            return times;
        }""",
        [entry["model_url"], runs],
    )


STAGES = ("read", "preprocess", "model", "show")


def live_frames(page: Page, settle_s: float, frames: int) -> tuple[list[float], float, dict]:
    """Per-frame times (arrival to answer) of the live loop after `settle_s`, frames/s, and the
    mean ms per frame of each stage (read the frame, preprocess, model, show) over those frames."""
    page.wait_for_function("() => catDogDebug.snapshot().loop.frames > 0")
    page.wait_for_timeout(settle_s * 1000)
    before = page.evaluate("catDogDebug.snapshot()")
    first = before["loop"]["frames"]
    started = time.perf_counter()
    wanted = min(frames, 250)  # the page logs its last 256 frames
    page.wait_for_function(f"() => catDogDebug.snapshot().loop.frames >= {first + wanted}")
    rate = wanted / (time.perf_counter() - started)
    after = page.evaluate("catDogDebug.snapshot()")
    log = page.evaluate("catDogDebug.recentFrames()")
    times = [end - start for start, end in zip(log["start"], log["end"], strict=True)]
    counted = after["cameraStages"]["frames"] - before["cameraStages"]["frames"]
    stages = {
        stage: (after["cameraStages"][stage] - before["cameraStages"][stage]) / counted
        for stage in STAGES
    }
    return times[-wanted:], rate, stages


# What a heap snapshot holds that is not the page's data: V8's compiled JS and WASM code (bytecode,
# feedback, machine code, which V8 tiers up and flushes as it likes: it still grew by 11-36 kB per
# 1,000 frames after 4,000 frames of `transfer`, less with each stretch) and the browser's capped
# buffers of long-task timings (each runFrames call is one long task).
NOT_PAGE_DATA = (
    "WasmNativeModule",
    "WeakArrayList",
    "Performance",
    "TaskAttribution",
    "AnimationFrameTiming",
    "ScriptTiming",
)


def is_page_data(kind: str) -> bool:
    """Whether a heap snapshot's kind of object (`heap_by_kind`'s keys) is the page's own data."""
    return not kind.startswith("code:") and not any(part in kind for part in NOT_PAGE_DATA)


def heap_by_kind(devtools: CDPSession) -> Counter:
    """Bytes held per kind of object ("type:name") after a full garbage collection: a heap
    snapshot's nodes, as DevTools' memory panel counts them."""
    chunks: list[str] = []

    def keep(event: dict) -> None:
        chunks.append(event["chunk"])

    # One listener per snapshot, removed after: a listener left behind would keep a copy of every
    # later snapshot (tens of MB each for `transfer`).
    devtools.on("HeapProfiler.addHeapSnapshotChunk", keep)
    try:
        devtools.send("HeapProfiler.collectGarbage")
        devtools.send("HeapProfiler.takeHeapSnapshot", {"reportProgress": False})
    finally:
        devtools.remove_listener("HeapProfiler.addHeapSnapshotChunk", keep)
    snapshot = json.loads("".join(chunks))
    meta = snapshot["snapshot"]["meta"]
    width = len(meta["node_fields"])
    kinds, strings, nodes = meta["node_types"][0], snapshot["strings"], snapshot["nodes"]
    held: Counter = Counter()
    for at in range(0, len(nodes), width):  # fields: type, name, id, self_size, ...
        held[f"{kinds[nodes[at]]}:{strings[nodes[at + 1]][:80]}"] += nodes[at + 3]
    return held


def heap_growth(page: Page, frames: int, warmup: int, stretches: int = 3) -> dict:
    """Bytes the JS heap grew over `frames` frames of the loop's work, after `warmup` frames, the
    median over `stretches` stretches in a row, from heap snapshots: `page` counts the page's own
    objects (`is_page_data`), `all` everything, V8's compiled code included. Snapshots, not
    Runtime.getHeapUsage: its reads after a collection jump by 130 kB either way, nothing run.
    `largest`: the kinds that changed most in the last stretch, bytes."""
    devtools = page.context.new_cdp_session(page)
    page.evaluate("n => catDogDebug.runFrames(n)", warmup)
    before = heap_by_kind(devtools)
    growths: dict[str, list[int]] = {"page": [], "all": []}
    for _ in range(stretches):
        page.evaluate("n => catDogDebug.runFrames(n)", frames)
        after = heap_by_kind(devtools)
        change = {kind: after[kind] - before[kind] for kind in before.keys() | after.keys()}
        growths["page"].append(sum(v for kind, v in change.items() if is_page_data(kind)))
        growths["all"].append(sum(change.values()))
        before = after
    largest = sorted(change.items(), key=lambda item: -abs(item[1]))[:4]
    return {name: statistics.median(values) for name, values in growths.items()} | {
        "largest": largest
    }


def first_load(browser: Browser, url: str) -> tuple[int, float]:
    """Bytes received and seconds until the model is ready, from an empty cache, without the
    service worker (it would serve the page's requests and hide them from this count)."""
    context = browser.new_context(service_workers="block")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    devtools = context.new_cdp_session(page)
    devtools.send("Network.enable")
    received: list[int] = []
    devtools.on("Network.loadingFinished", lambda done: received.append(done["encodedDataLength"]))
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_function("() => window.catDogDebug && catDogDebug.snapshot().model")
    seconds = time.perf_counter() - started
    context.close()
    return sum(received), seconds


def offline_copy(browser: Browser, url: str) -> int:
    """Bytes the service worker keeps for offline use (fetched in the background on a first
    visit): the page, TF.js, its WASM binaries and every exported model."""
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    return page.evaluate(
        """async () => {
            await navigator.serviceWorker.ready;
            // web/sw.js: the current version's cache, once its manifest lists every model.
            const served = (await (await fetch("models/manifest.json")).json()).models.length;
            const wholeCopy = async () => {
                const pointer = { cacheName: "cat-dog-current" };
                const current = await caches.match("current-offline-copy", pointer);
                const name = current && (await current.text());
                const manifest =
                    name && (await caches.match("models/manifest.json", { cacheName: name }));
                return manifest && (await manifest.json()).models.length === served ? name : null;
            };
            let name;
            while (!(name = await wholeCopy())) await new Promise((done) => setTimeout(done, 250));
            const cache = await caches.open(name);
            let bytes = 0;
            for (const request of await cache.keys()) {
                bytes += (await (await cache.match(request)).arrayBuffer()).byteLength;
            }
            return bytes;
        }"""
    )


def transfer_exports(sizes: list[int], web_copy: Path, unfolded: bool = False) -> Path:
    """A copy of web/ whose models are `transfer` at each of `sizes`, and each unfolded too when
    `unfolded` (the module's docstring)."""
    import numpy as np  # noqa: PLC0415

    from cat_dog_classifier.config import base_config  # noqa: PLC0415
    from cat_dog_classifier.model_files import model_md5  # noqa: PLC0415
    from cat_dog_classifier.models import build_model  # noqa: PLC0415
    from cat_dog_classifier.neither import with_neither_output  # noqa: PLC0415
    from cat_dog_classifier.pipelines.export.nodes import export_tfjs_models  # noqa: PLC0415

    skipped = shutil.ignore_patterns("models", "node_modules")
    shutil.copytree(ROOT / "web", web_copy, symlinks=True, ignore=skipped)
    os.chdir(ROOT)  # the parameters' paths (the backbone weights) are relative to the project
    variant = base_config("parameters", ROOT)["variants"]["transfer"]
    records, files = [], {}
    for size in sizes:
        model = build_model((size, size, 3), variant["model"])
        features = model.get_layer("pooled_features").output.shape[-1]
        detector = {
            "kind": "mahalanobis",
            "unit_features": bool(variant["neither"].get("unit_features")),
            "statistics": {"means": np.zeros((2, features)), "precision": np.eye(features)},
            "threshold": 0.0,
            "scale": 1.0,
        }
        model_file = web_copy / f"transfer_{size}.keras"
        with_neither_output(model, detector).save(model_file)
        record = {
            "id": f"transfer_{size}",
            "variant": "transfer",
            "architecture": "transfer",
            "aliases": ["champion"],
            "model_md5": model_md5(model_file.read_bytes()),
            "input": {
                "height": size,
                "width": size,
                "channels": 3,
                "color_mode": "rgb",
                "interpolation": "area",
            },
            "validation": {},
            "test": {},
            "neither": {"output": "neither_score", "threshold": 0.5},
        }
        for fold in (True, False) if unfolded else (True,):
            record["id"] = f"transfer_{size}" if fold else f"transfer_{size}_unfolded"
            files |= export_tfjs_models([record], model_file.read_bytes(), [], fold)
            records.append(json.loads(files.pop("manifest.json"))["models"][0])
        model_file.unlink()
    for name, data in files.items():
        (web_copy / "models" / name).parent.mkdir(parents=True, exist_ok=True)
        (web_copy / "models" / name).write_bytes(data)
    manifest = {"default_model": records[0]["id"], "models": records}
    (web_copy / "models" / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return web_copy


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    chromium = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True, check=True
    ).stdout
    cpu = model.group(1) if model else platform.machine()
    return f"{cpu}, {len(os.sched_getaffinity(0))} cores usable, {chromium.strip()}"


def measure_model(browser: Browser, base: str, entry: dict, backend: str, args) -> dict:
    model_input = entry["input"]
    spec = ImageSpec(model_input["height"], model_input["width"], model_input["color_mode"], "area")
    values = preprocess_image(args.photo.read_bytes(), spec).ravel().tolist()
    url = f"{base}?model={entry['id']}&backend={backend}{args.query}"
    page = open_page(browser, f"{url}&camera=off")
    if isinstance(page, str):
        return {"error": page}
    model_ms = model_latencies(page, values, args.frames, args.warmup)
    camera = cv2.resize(cv2.imread(str(args.photo)), (640, 480), interpolation=cv2.INTER_AREA)
    frame = cv2.cvtColor(camera, cv2.COLOR_BGR2RGB)  # the fake camera's picture
    preprocessing = preprocessing_times(page, frame, entry, args.frames)
    kernels = kernel_times(page, entry, args.kernel_runs) if args.kernel_runs else None
    page.context.close()
    page = open_page(browser, url)  # camera on, the default interval
    live_ms, rate, stages = live_frames(page, args.settle, args.frames)
    result = {
        "backend": page.inner_text("#backend"),
        "p50": float(np.percentile(model_ms, 50)),
        "p95": float(np.percentile(model_ms, 95)),
        "live_p50": float(np.percentile(live_ms, 50)),
        "live_p95": float(np.percentile(live_ms, 95)),
        "fps": rate,
        "stages": stages,
        "preprocessing": preprocessing,
    }
    if kernels:
        result["kernels"] = kernels
    if backend == "wasm":
        growth = heap_growth(page, args.heap_frames, args.heap_warmup)
        result["heap_largest"] = growth.pop("largest")
        result["heap_kb"] = {name: b / 1024 * 1000 / args.heap_frames for name, b in growth.items()}
        result["load_bytes"], result["load_s"] = first_load(browser, f"{url}&camera=off")
    page.context.close()
    return result


def table(rows: list[tuple[dict, str, dict]]) -> list[str]:
    lines = [
        "| model | export | size (MB) | backend | model p50 / p95 (ms) | live p50 / p95 (ms) "
        "| live, mean ms: read / preprocess / model / show "
        "| live frames/s | heap growth per 1,000 frames (kB): page's objects / all "
        "| first load (MB, s) |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for entry, backend, result in rows:
        export = "float16" if entry["quantization"] == "float16" else "float32"
        head = f"| {entry['id']} | {export} | {entry['size_bytes'] / 1e6:.2f} |"
        if "error" in result:
            lines.append(f"{head} {backend} | unavailable: {result['error']} | | | | | |")
            continue
        heap = ""
        if "heap_kb" in result:
            heap = f"{result['heap_kb']['page']:+.1f} / {result['heap_kb']['all']:+.0f}"
        load = f"{result['load_bytes'] / 1e6:.1f}, {result['load_s']:.1f}" if heap else ""
        stages = " / ".join(f"{result['stages'][stage]:.1f}" for stage in STAGES)
        lines.append(
            f"{head} {result['backend']} | {result['p50']:.1f} / {result['p95']:.1f} "
            f"| {result['live_p50']:.1f} / {result['live_p95']:.1f} | {stages} "
            f"| {result['fps']:.0f} | {heap} | {load} |"
        )
    return lines


def kernel_lines(rows: list[tuple[dict, str, dict]]) -> list[str]:
    """Where each model's inference time goes, by TF.js kernel."""
    lines = []
    for entry, backend, result in rows:
        if "kernels" not in result:
            continue
        kernels = dict(result["kernels"])
        wall = kernels.pop("wall")
        total = sum(kernels.values())
        parts = ", ".join(
            f"{name} {ms:.2f} ms ({ms / total:.0%})"
            for name, ms in sorted(kernels.items(), key=lambda item: -item[1])[:5]
        )
        lines += [
            f"Kernels, {entry['id']} on {backend} (tf.profile, mean of the profiled runs): {parts};"
            f" all kernels {total:.2f} ms of a profiled run's {wall:.2f} ms.",
            "",
        ]
    return lines


def preprocessing_lines(rows: list[tuple[dict, str, dict]]) -> list[str]:
    """Preprocessing alone, per engine: what the WebAssembly buys."""
    lines = []
    for entry, backend, result in rows:
        if "preprocessing" in result:
            times = result["preprocessing"]
            lines += [
                f"Preprocessing alone, {entry['id']} on {backend} (the 640x480 camera frame to"
                f" its input, median of {times['runs']} runs of each, taken in turn):"
                f" WebAssembly {times['wasm']:.2f} ms, plain JS {times['js']:.2f} ms"
                f" ({times['js'] / times['wasm']:.1f}x).",
                "",
            ]
    return lines


def heap_kinds(rows: list[tuple[dict, str, dict]]) -> list[str]:
    """What changed most in each model's last heap stretch, by kind of object."""
    lines = []
    for entry, _, result in rows:
        if "heap_largest" in result:
            largest = result["heap_largest"]
            kinds = ", ".join(f"`{kind}` {size / 1024:+.1f} kB" for kind, size in largest)
            lines += [f"Heap, {entry['id']}, largest changes in the last stretch: {kinds}.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--web-dir", type=Path, default=ROOT / "web")
    parser.add_argument("--photo", type=photo_file, default=str(PHOTO), help="the camera's picture")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds of live camera first")
    parser.add_argument("--heap-frames", type=int, default=1000)
    parser.add_argument(
        "--kernel-runs", type=int, default=30, help="profiled inferences per model (0: none)"
    )
    parser.add_argument("--heap-warmup", type=int, default=4000, help="frames before the heap's")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--models", nargs="+", help="model ids of the manifest (default: all)")
    parser.add_argument(
        "--transfer-sizes", nargs="+", type=int, help="measure `transfer` built at these sizes"
    )
    parser.add_argument(
        "--unfolded",
        action="store_true",
        help="with --transfer-sizes: also each size without batch normalisation folded",
    )
    parser.add_argument(
        "--query", default="", help="more of the page's address options, e.g. '&interval=40'"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/web_latency.md")
    args = parser.parse_args()
    scratch_web = None
    if args.transfer_sizes:
        scratch_web = tempfile.TemporaryDirectory()
        web_copy = Path(scratch_web.name) / "web"
        args.web_dir = transfer_exports(args.transfer_sizes, web_copy, args.unfolded)
    elif args.unfolded:
        parser.error("--unfolded needs --transfer-sizes")

    manifest_path = args.web_dir / "models" / "manifest.json"
    if not manifest_path.is_file():
        sys.exit(f"{manifest_path} is missing: run `kedro run --pipelines export` first")
    manifest = json.loads(manifest_path.read_text())

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
            video = camera_video(Path(scratch), args.photo)
            browsers = {
                backend: driver.chromium.launch(
                    executable_path=CHROMIUM,
                    args=[
                        *CHROMIUM_ARGS,
                        *BACKEND_ARGS[backend],
                        f"--use-file-for-fake-video-capture={video}",
                    ],
                )
                for backend in args.backends
            }
            for entry in manifest["models"]:
                if args.models and entry["id"] not in args.models:
                    continue
                for backend in args.backends:
                    result = measure_model(browsers[backend], base, entry, backend, args)
                    rows.append((entry, backend, result))
                    print(entry["id"], backend, result, flush=True)
            offline_bytes = offline_copy(browsers[args.backends[0]], f"{base}?camera=off")
            for browser in browsers.values():
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)

    command = " ".join(["python benchmarks/web_latency.py", *sys.argv[1:]])
    report = "\n".join(
        [
            "# The page's speed and memory in headless Chromium",
            "",
            f"Command: `{command}`. Machine: {machine()}.",
            f"Model: one inference on a real photo, upload to read-back, {args.frames} runs after"
            f" {args.warmup} warm-up. Live: the page with the camera on (640x480, default"
            f" interval), frames after its first {args.settle:g} s, arrival to answer shown."
            f" Heap: JS heap after {args.heap_frames} frames of the loop's work minus before,"
            " from heap snapshots after full collections, the median of 3 such stretches after"
            f" {args.heap_warmup} frames of warm-up, scaled to 1,000 frames: the page's own"
            " objects, and all, V8's compiled code included. First load: from an empty cache to"
            " the model ready, without the service worker, which then keeps an offline copy of"
            f" {offline_bytes / 1e6:.1f} MB (the page, TF.js, WASM and every exported model).",
            "",
            *table(rows),
            "",
            *kernel_lines(rows),
            *preprocessing_lines(rows),
            *heap_kinds(rows),
        ]
    )
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)


if __name__ == "__main__":
    main()
