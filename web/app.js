// The camera page: camera and photo input, the classification loop, and everything it shows.
import {
  frameToImageData,
  loadModel,
  predictDog,
  preprocess,
  startBackend,
} from "./classifier.js";

const tf = globalThis.tf;
const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const MANIFEST_URL = new URL("models/manifest.json", document.baseURI);

const settings = {
  intervalMs: Number(query.get("interval") ?? 20),
  low: Number(query.get("low") ?? 0.35),
  high: Number(query.get("high") ?? 0.65),
};

const state = {
  backend: null,
  manifest: null,
  entry: null, // the manifest entry of the model in use
  model: null,
  stream: null,
  live: false, // classifying the camera (false while a dropped photo is shown)
  busy: false, // an inference is running: the loop skips its ticks meanwhile
  frames: 0,
  skippedTicks: 0,
  last: null, // { label, probability, ms, source }
  recentFrameMs: [], // the last camera frames' times (capture to probability), for the benchmark
  error: null,
};
const canvas = document.createElement("canvas");
let timer = null;
let frameTimes = [];

function showMessage(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = false;
  if (kind === "error") state.error = text;
}

function clearMessage() {
  $("message").hidden = true;
  state.error = null;
}

function labelFor(probability) {
  if (probability >= settings.high) return "dog";
  if (probability <= settings.low) return "cat";
  return "not sure";
}

function showResult(probability, ms, source) {
  const label = labelFor(probability);
  state.last = { label, probability, ms, source };
  $("label").textContent = label;
  $("label").className = `label-${label === "not sure" ? "unsure" : label}`;
  $("bar-fill").style.width = `${(probability * 100).toFixed(1)}%`;
  $("probability").textContent = `P(dog) ${probability.toFixed(3)}`;
  $("inference-ms").textContent = `${ms.toFixed(1)} ms`;
  $("source").textContent = source;
}

function showBand() {
  $("band").style.left = `${settings.low * 100}%`;
  $("band").style.width = `${(settings.high - settings.low) * 100}%`;
}

async function classify(source, sourceName) {
  const started = performance.now();
  const values = preprocess(frameToImageData(source, canvas), state.entry.input);
  const probability = await predictDog(state.model, values, state.entry.input);
  showResult(probability, performance.now() - started, sourceName);
  state.frames += 1;
}

// The live loop: one tick every `intervalMs`; a tick that finds the previous inference running is skipped.
async function tick() {
  const video = $("preview");
  if (!state.live || !state.model || video.readyState < 2) return;
  if (state.busy) {
    state.skippedTicks += 1;
    return;
  }
  state.busy = true;
  try {
    await classify(video, "camera");
    state.recentFrameMs = [...state.recentFrameMs.slice(-499), state.last.ms];
    const now = performance.now();
    frameTimes = frameTimes.filter((t) => now - t < 1000);
    frameTimes.push(now);
    $("fps").textContent = String(frameTimes.length);
  } catch (error) {
    stopLoop();
    showMessage(`Classification failed: ${error.message}`);
  } finally {
    state.busy = false;
  }
}

function startLoop() {
  stopLoop();
  timer = setInterval(tick, settings.intervalMs);
}

function stopLoop() {
  clearInterval(timer);
  timer = null;
}

function cameraErrorText(error) {
  switch (error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera permission was denied. Allow the camera for this site, or classify a photo: drop it here or use “Photo…”.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found. Classify a photo instead: drop it here or use “Photo…”.";
    case "NotReadableError":
      return "The camera is in use by another application. Close it and press “Resume camera”, or classify a photo.";
    default:
      return `The camera could not start (${error.name}: ${error.message}). Classify a photo instead.`;
  }
}

async function startCamera(deviceId) {
  if (!navigator.mediaDevices?.getUserMedia) {
    showMessage(
      "This page has no camera access here: browsers allow cameras only on https:// or http://localhost. " +
        "Classify a photo instead: drop it here or use “Photo…”.",
    );
    return;
  }
  state.stream?.getTracks().forEach((track) => track.stop());
  const video = deviceId
    ? { deviceId: { exact: deviceId }, width: { ideal: 640 }, height: { ideal: 480 } }
    : { facingMode: { ideal: "environment" }, width: { ideal: 640 }, height: { ideal: 480 } };
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
  } catch (error) {
    state.stream = null;
    showMessage(cameraErrorText(error));
    return;
  }
  $("preview").srcObject = state.stream;
  $("preview").hidden = false;
  $("photo").hidden = true;
  clearMessageIfCamera();
  state.live = true;
  await listCameras();
  startLoop();
}

function clearMessageIfCamera() {
  if (state.error?.includes("camera") || state.error?.includes("Camera")) clearMessage();
}

// Device labels are only readable once permission is granted, so the picker fills after the first start.
async function listCameras() {
  const select = $("camera-select");
  const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  const current = state.stream?.getVideoTracks()[0]?.getSettings().deviceId;
  select.replaceChildren(
    ...cameras.map((camera, i) => new Option(camera.label || `Camera ${i + 1}`, camera.deviceId, false, camera.deviceId === current)),
  );
  select.disabled = cameras.length < 2;
}

async function classifyPhoto(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) {
    showMessage(`${file.name} is not an image.`);
    return;
  }
  if (!state.model) {
    showMessage("No model is loaded, so the photo cannot be classified.");
    return;
  }
  let bitmap;
  try {
    // Raw decoded pixels (no colour-profile conversion), upright per EXIF: what training's decoder reads.
    bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", imageOrientation: "from-image" });
  } catch {
    showMessage(`${file.name} could not be decoded as an image.`);
    return;
  }
  state.live = false;
  stopLoop();
  const photo = $("photo");
  URL.revokeObjectURL(photo.src);
  photo.src = URL.createObjectURL(file);
  photo.hidden = false;
  $("preview").hidden = true;
  $("fps").textContent = "—";
  try {
    await classify(bitmap, `photo ${file.name}`);
    if (state.error) clearMessage();
  } catch (error) {
    showMessage(`Classifying ${file.name} failed: ${error.message}`);
  } finally {
    bitmap.close();
  }
}

function describeModel(entry) {
  const accuracy = entry.metrics?.test_accuracy;
  const parts = [
    `${entry.variant}`,
    `${entry.registered_model_name} v${entry.version}`,
    entry.aliases.length ? `@${entry.aliases.join(", @")}` : null,
    accuracy === undefined ? "test accuracy n/a" : `test accuracy ${(accuracy * 100).toFixed(1)}%`,
    `${entry.input.width}x${entry.input.height} ${entry.input.color_mode}`,
    entry.quantization !== "none" ? entry.quantization : null,
    `${(entry.size_bytes / 1e6).toFixed(1)} MB`,
  ];
  return parts.filter(Boolean).join(" · ");
}

// Where the model comes from, in two hops: its MLflow runs, and their git commit and data hash.
function describeLineage(entry) {
  const short = (value, length = 8) => (value ? String(value).slice(0, length) : "unknown");
  const commit = `commit ${short(entry.git_commit, 7)}${entry.git_dirty === "true" ? " (uncommitted changes)" : ""}`;
  return [
    `model MD5 ${short(entry.model_md5)}`,
    `trained in run ${short(entry.training_run_id)}`,
    `registered in run ${short(entry.registered_run_id)}`,
    commit,
    `data ${short(entry.data_md5)}`,
  ].join(" · ");
}

async function useModel(id) {
  const entry = state.manifest.models.find((m) => m.id === id);
  if (!entry) {
    showMessage(`No model “${id}” in the manifest; exported: ${state.manifest.models.map((m) => m.id).join(", ")}.`);
    return;
  }
  const { interpolation, keep_aspect_ratio: keepAspect } = entry.input.resize;
  if (interpolation !== "area" || keepAspect) {
    showMessage(`Model ${id} expects ${interpolation} resizing${keepAspect ? " keeping the aspect ratio" : ""}; this page implements only training's INTER_AREA stretch.`);
    return;
  }
  const wasLive = state.live;
  stopLoop();
  state.model?.dispose();
  state.model = null;
  state.entry = null;
  $("model-info").textContent = `Loading ${id}…`;
  try {
    state.model = await loadModel(entry, MANIFEST_URL);
  } catch (error) {
    $("model-info").textContent = "No model loaded";
    showMessage(`The model “${id}” failed to load (${entry.model_url}): ${error.message}. Re-run the export: kedro run --pipeline export.`);
    return;
  }
  state.entry = entry;
  $("model-info").textContent = describeModel(entry);
  $("model-lineage").textContent = describeLineage(entry);
  $("model-select").value = id;
  if (state.error?.includes("model")) clearMessage();
  if (wasLive) startLoop();
}

async function loadManifest() {
  let response;
  try {
    response = await fetch(MANIFEST_URL, { cache: "no-cache" });
  } catch (error) {
    throw new Error(`could not fetch ${MANIFEST_URL.pathname}: ${error.message}`);
  }
  if (!response.ok) {
    throw new Error(`${MANIFEST_URL.pathname} answered ${response.status}: export a model first (kedro run --pipeline export)`);
  }
  const manifest = await response.json();
  if (!manifest.models?.length) throw new Error(`${MANIFEST_URL.pathname} lists no model`);
  return manifest;
}

function bindControls() {
  $("interval").value = settings.intervalMs;
  $("band-low").value = settings.low;
  $("band-high").value = settings.high;
  showBand();
  $("interval").addEventListener("change", (event) => {
    const value = Number(event.target.value);
    if (value >= 1) settings.intervalMs = value;
    if (timer) startLoop();
  });
  for (const id of ["band-low", "band-high"]) {
    $(id).addEventListener("change", () => {
      const low = Number($("band-low").value);
      const high = Number($("band-high").value);
      if (low >= 0 && high <= 1 && low <= high) Object.assign(settings, { low, high });
      showBand();
    });
  }
  $("model-select").addEventListener("change", (event) => useModel(event.target.value));
  $("camera-select").addEventListener("change", (event) => startCamera(event.target.value));
  $("camera-button").addEventListener("click", () => startCamera($("camera-select").value || undefined));
  $("file-input").addEventListener("change", (event) => classifyPhoto(event.target.files[0]));
  const zone = $("drop-zone");
  for (const name of ["dragenter", "dragover"]) {
    document.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  document.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    classifyPhoto(event.dataTransfer.files[0]);
  });
}

// Read-only view for tests and the latency benchmark; nothing here changes what the page does.
function exposeDebugHook() {
  window.catDogDebug = Object.freeze({
    numTensors: () => tf.memory().numTensors,
    snapshot: () =>
      structuredClone({
        backend: state.backend,
        model: state.entry?.id ?? null,
        live: state.live,
        frames: state.frames,
        skippedTicks: state.skippedTicks,
        last: state.last,
        recentFrameMs: state.recentFrameMs,
        error: state.error,
        wasmThreads: state.backend === "wasm" ? tf.wasm.getThreadsCount() : null,
        crossOriginIsolated: globalThis.crossOriginIsolated,
      }),
    // Preprocess an image URL as the page does and return the model input as a plain array.
    preprocessUrl: async (url) => {
      const blob = await (await fetch(url)).blob();
      const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none" });
      const imageData = frameToImageData(bitmap, document.createElement("canvas"));
      bitmap.close();
      return Array.from(preprocess(imageData, state.entry.input));
    },
    // Run the loaded model on an already-preprocessed input (for parity with Keras) and time it.
    predict: async (values) => {
      const input = Float32Array.from(values);
      const started = performance.now();
      const probability = await predictDog(state.model, input, state.entry.input);
      return { probability, ms: performance.now() - started };
    },
  });
}

async function main() {
  bindControls();
  exposeDebugHook();
  try {
    state.backend = await startBackend(query.get("backend") ?? undefined);
  } catch (error) {
    $("status").textContent = "No TF.js backend";
    showMessage(`TF.js could not start: ${error.message}`);
    return;
  }
  const threads = state.backend === "wasm" ? tf.wasm.getThreadsCount() : 1;
  $("backend").textContent = threads > 1 ? `wasm (${threads} threads)` : state.backend;
  try {
    state.manifest = await loadManifest();
  } catch (error) {
    $("status").textContent = "No model";
    showMessage(`No model to run: ${error.message}.`);
    return;
  }
  const select = $("model-select");
  select.replaceChildren(
    ...state.manifest.models.map((m) => new Option(`${m.variant} v${m.version}${m.aliases.length ? ` @${m.aliases.join(",@")}` : ""}`, m.id)),
  );
  select.disabled = state.manifest.models.length < 2;
  await useModel(query.get("model") ?? state.manifest.default_model);
  $("status").textContent = state.model ? `Ready on ${state.backend}` : "Model failed to load";
  if (query.get("camera") !== "off") await startCamera();
}

main().catch((error) => showMessage(`The page failed to start: ${error.message}`));
