// The camera page: state, and the wiring between settings, camera, photos, the model, the loop and the view.
import { cameraAvailable, cameraErrorText, listCameras, NO_CAMERA_ACCESS, openCamera } from "./camera.js";
import { loadModel, predict, startBackend } from "./classifier.js";
import { FrameReader, photoPixels } from "./frames.js";
import { FrameLoop } from "./loop.js";
import { Preprocessor } from "./preprocess.js";
import { parseBand, parseInterval, readSettings } from "./settings.js";
import {
  addNotes,
  clearMessage,
  describeLineage,
  describeModel,
  labelFor,
  modelOption,
  ResultView,
  showMessage,
  ui,
} from "./view.js";

const tf = globalThis.tf;
const MANIFEST_URL = new URL("models/manifest.json", document.baseURI);
const { settings, notes } = readSettings(new URLSearchParams(location.search));

const state = {
  backend: null,
  renderer: null,
  manifest: null,
  entry: null, // the manifest entry of the model in use
  loaded: null, // what classifier.predict takes
  preprocessor: null,
  stream: null,
  live: false, // classifying the camera (false while a dropped photo is shown)
  classified: 0, // camera frames and photos
  last: { label: null, dog: NaN, neither: null, ms: NaN, source: null, width: 0, height: 0 },
  error: null,
};
const reader = new FrameReader();
const view = new ResultView();
const loop = new FrameLoop(ui.preview, classifyCameraFrame, {
  minIntervalMs: settings.intervalMs,
  onError: (error) => fail(`Classification failed: ${error.message}`),
});

function fail(text) {
  state.error = text;
  showMessage(text);
}

function clearError(matching) {
  if (state.error && matching.test(state.error)) {
    state.error = null;
    clearMessage();
  }
}

// Where camera frames' time goes, summed per stage since the page opened (the latency benchmark reads it
// before and after a stretch of frames): reading the frame, preprocessing, the model, updating the view.
const cameraStages = { frames: 0, read: 0, preprocess: 0, model: 0, show: 0 };

// One classification of RGBA pixels; `started` is when reading them began. Allocates nothing per frame.
async function classifyPixels(pixels, width, height, source, started) {
  const preprocessStart = performance.now();
  const input = state.preprocessor.run(pixels, width, height);
  const modelStart = performance.now();
  const { dog, neither } = await predict(state.loaded, input);
  const showStart = performance.now();
  const label = labelFor(dog, neither, state.loaded.neitherThreshold, settings);
  const last = state.last;
  last.label = label;
  last.dog = dog;
  last.neither = neither;
  last.ms = performance.now() - started;
  last.source = source;
  last.width = width;
  last.height = height;
  state.classified += 1;
  view.show(label, dog, neither, source);
  view.showStats(last.ms, loop.frames, source === "camera");
  if (source === "camera") {
    cameraStages.frames += 1;
    cameraStages.read += preprocessStart - started;
    cameraStages.preprocess += modelStart - preprocessStart;
    cameraStages.model += showStart - modelStart;
    cameraStages.show += performance.now() - showStart;
  }
}

// The loop's work per camera frame: read it into the reused buffer, preprocess, classify, show.
async function classifyCameraFrame() {
  const started = performance.now();
  const pixels = await reader.read(ui.preview);
  await classifyPixels(pixels, reader.width, reader.height, "camera", started);
}

async function startCamera(deviceId) {
  if (!cameraAvailable()) {
    fail(NO_CAMERA_ACCESS);
    return;
  }
  await loop.stopped();
  state.stream?.getTracks().forEach((track) => track.stop());
  try {
    state.stream = await openCamera(deviceId);
  } catch (error) {
    state.stream = null;
    fail(cameraErrorText(error));
    return;
  }
  ui.preview.srcObject = state.stream;
  ui.preview.hidden = false;
  ui.photo.hidden = true;
  clearError(/camera/i);
  state.live = true;
  await showCameras();
  if (state.loaded) loop.start();
}

async function showCameras() {
  const cameras = await listCameras();
  const current = state.stream?.getVideoTracks()[0]?.getSettings().deviceId;
  ui.cameraSelect.replaceChildren(
    ...cameras.map((camera) => new Option(camera.label, camera.deviceId, false, camera.deviceId === current)),
  );
  ui.cameraSelect.disabled = cameras.length < 2;
}

async function classifyPhoto(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) {
    fail(`${file.name} is not an image.`);
    return;
  }
  if (!state.loaded) {
    fail("No model is loaded, so the photo cannot be classified.");
    return;
  }
  const started = performance.now();
  let photo;
  try {
    photo = await photoPixels(file);
  } catch {
    fail(`${file.name} could not be decoded as an image.`);
    return;
  }
  state.live = false;
  await loop.stopped();
  URL.revokeObjectURL(ui.photo.src);
  ui.photo.src = URL.createObjectURL(file);
  ui.photo.hidden = false;
  ui.preview.hidden = true;
  try {
    await classifyPixels(photo.data, photo.width, photo.height, `photo ${file.name}`, started);
    clearError(/./);
  } catch (error) {
    fail(`Classifying ${file.name} failed: ${error.message}`);
  }
}

async function useModel(id) {
  const entry = state.manifest.models.find((m) => m.id === id);
  if (!entry) {
    fail(`No model “${id}” in the manifest; exported: ${state.manifest.models.map((m) => m.id).join(", ")}.`);
    return;
  }
  const { interpolation, keep_aspect_ratio: keepAspect } = entry.input.resize;
  if (interpolation !== "area" || keepAspect) {
    fail(`Model ${id} expects ${interpolation} resizing${keepAspect ? " keeping the aspect ratio" : ""}; this page implements only training's INTER_AREA stretch.`);
    return;
  }
  await loop.stopped();
  if (state.loaded) tf.dispose(state.loaded.model);
  state.loaded = null;
  state.entry = null;
  ui.modelInfo.textContent = `Loading ${id}…`;
  try {
    state.loaded = await loadModel(entry, MANIFEST_URL);
  } catch (error) {
    ui.modelInfo.textContent = "No model loaded";
    fail(`The model “${id}” failed to load (${entry.model_url}): ${error.message}. Re-run the export: kedro run --pipelines export.`);
    return;
  }
  state.entry = entry;
  state.preprocessor = new Preprocessor(entry.input);
  ui.modelInfo.textContent = describeModel(entry);
  ui.modelLineage.textContent = describeLineage(entry);
  ui.modelSelect.value = id;
  clearError(/model/i);
  if (state.live) loop.start();
}

/** The model the address asks for, if the manifest has it; else the default, with a note. */
function chosenModel(manifest, asked) {
  if (asked === null || manifest.models.some((m) => m.id === asked)) return asked ?? manifest.default_model;
  const exported = manifest.models.map((m) => m.id).join(", ");
  addNotes([`Ignored model=${asked}: not an exported model (${exported}); showing ${manifest.default_model}.`]);
  return manifest.default_model;
}

async function loadManifest() {
  let response;
  try {
    response = await fetch(MANIFEST_URL, { cache: "no-cache" });
  } catch (error) {
    throw new Error(`could not fetch ${MANIFEST_URL.pathname}: ${error.message}`);
  }
  if (!response.ok) {
    throw new Error(`${MANIFEST_URL.pathname} answered ${response.status}: export a model first (kedro run --pipelines export)`);
  }
  const manifest = await response.json();
  if (!manifest.models?.length) throw new Error(`${MANIFEST_URL.pathname} lists no model`);
  return manifest;
}

function bindSettings() {
  ui.interval.value = settings.intervalMs;
  ui.bandLow.value = settings.low;
  ui.bandHigh.value = settings.high;
  view.showBand(settings);
  ui.interval.addEventListener("change", () => {
    const interval = parseInterval(ui.interval.value);
    if (interval === null) {
      addNotes([`Ignored an interval of “${ui.interval.value}” ms: kept ${settings.intervalMs} ms.`]);
      ui.interval.value = settings.intervalMs;
      return;
    }
    settings.intervalMs = interval;
    loop.minIntervalMs = interval;
  });
  for (const input of [ui.bandLow, ui.bandHigh]) {
    input.addEventListener("change", () => {
      const band = parseBand(ui.bandLow.value, ui.bandHigh.value);
      if (band === null) {
        addNotes([`Ignored “not sure” from ${ui.bandLow.value} to ${ui.bandHigh.value}: kept ${settings.low} to ${settings.high}.`]);
        ui.bandLow.value = settings.low;
        ui.bandHigh.value = settings.high;
        return;
      }
      Object.assign(settings, band);
      view.showBand(settings);
    });
  }
}

function bindControls() {
  ui.modelSelect.addEventListener("change", (event) => useModel(event.target.value));
  ui.cameraSelect.addEventListener("change", (event) => startCamera(event.target.value));
  ui.cameraButton.addEventListener("click", () => startCamera(ui.cameraSelect.value || undefined));
  ui.fileInput.addEventListener("change", (event) => classifyPhoto(event.target.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    document.addEventListener(name, (event) => {
      event.preventDefault();
      ui.dropZone.classList.add("dragging");
    });
  }
  document.addEventListener("dragleave", () => ui.dropZone.classList.remove("dragging"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    ui.dropZone.classList.remove("dragging");
    classifyPhoto(event.dataTransfer.files[0]);
  });
}

// Read-only view for tests and the latency benchmark, plus runFrames (the loop's own per-frame work,
// back to back) to measure it; nothing here changes what the page shows or decides.
function exposeDebugHook() {
  window.catDogDebug = Object.freeze({
    numTensors: () => tf.memory().numTensors,
    snapshot: () =>
      structuredClone({
        backend: state.backend,
        renderer: state.renderer,
        model: state.entry?.id ?? null,
        live: state.live,
        frames: state.classified,
        last: state.last.label === null ? null : state.last,
        error: state.error,
        settings,
        notes,
        wasmThreads: state.backend === "wasm" ? tf.wasm.getThreadsCount() : null,
        crossOriginIsolated: globalThis.crossOriginIsolated,
        pixels: reader.method,
        pixelsFallback: reader.fallbackReason,
        cameraStages,
        loop: {
          mode: loop.mode,
          running: loop.running,
          busy: loop.busy,
          frames: loop.frames,
          tooSoon: loop.tooSoon,
          skipped: loop.skipped,
          hiddenPauses: loop.hiddenPauses,
          minIntervalMs: loop.minIntervalMs,
        },
      }),
    recentFrames: () => loop.recent(),
    // The model input of the last classification (the page reuses the buffer, so this is a copy).
    lastInput: () => Array.from(state.preprocessor.output),
    // Run the loaded model on an already-preprocessed input (for parity with Keras) and time it.
    predict: async (values) => {
      const input = Float32Array.from(values);
      const started = performance.now();
      const { dog, neither } = await predict(state.loaded, input);
      return { dog, neither, ms: performance.now() - started };
    },
    // The live loop's per-frame work `count` times on the current camera frame (loop paused meanwhile).
    runFrames: async (count) => {
      await loop.stopped();
      const started = performance.now();
      for (let i = 0; i < count; i++) await classifyCameraFrame();
      const ms = performance.now() - started;
      if (state.live) loop.start();
      return ms;
    },
  });
}

function registerServiceWorker() {
  // Offline after the first visit (sw.js). Browsers allow it on https:// and localhost only.
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("sw.js").catch((error) => console.warn("No offline copy:", error.message));
  // The browser installs a new worker only when sw.js's bytes change; TF.js, the page's other files or the
  // models may change alone: the worker compares its offline copy with what is served now.
  navigator.serviceWorker.ready.then((registration) => registration.active?.postMessage("update"));
}

async function main() {
  addNotes(notes);
  bindSettings();
  bindControls();
  exposeDebugHook();
  registerServiceWorker();
  try {
    const { name, renderer } = await startBackend(settings.backend, settings.threads);
    state.backend = name;
    state.renderer = renderer;
  } catch (error) {
    ui.status.textContent = "No TF.js backend";
    fail(`TF.js could not start: ${error.message}`);
    return;
  }
  const threads = state.backend === "wasm" ? tf.wasm.getThreadsCount() : 1;
  ui.backend.textContent = threads > 1 ? `wasm (${threads} threads)` : state.backend;
  try {
    state.manifest = await loadManifest();
  } catch (error) {
    ui.status.textContent = "No model";
    fail(`No model to run: ${error.message}.`);
    return;
  }
  ui.modelSelect.replaceChildren(...state.manifest.models.map(modelOption));
  ui.modelSelect.disabled = state.manifest.models.length < 2;
  await useModel(chosenModel(state.manifest, settings.model));
  ui.status.textContent = state.loaded ? `Ready on ${state.backend}` : "Model failed to load";
  if (settings.camera) await startCamera();
}

main().catch((error) => fail(`The page failed to start: ${error.message}`));
