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
import { SteadyAnswer } from "./evidence.js";

const tf = globalThis.tf;
const MANIFEST_URL = new URL("models/manifest.json", document.baseURI);
// Each model's registry version, runs and commit, by model MD5: beside the manifest, not in it (DVC
// tracks the manifest, and another MLflow store numbers these otherwise). Missing (offline, after a
// `dvc pull`), they show as unknown.
const LINEAGE_URL = new URL("models/lineage.json", document.baseURI);
const { settings, notes } = readSettings(new URLSearchParams(location.search));

const state = {
  backend: null,
  renderer: null,
  manifest: null,
  // The model in use: { entry, loaded (what classifier.predict takes), preprocessor, users (inferences
  // running on it), retired (replaced: disposed once `users` is 0) }. Replaced whole, never emptied.
  model: null,
  loading: null, // the id of the model the page waits for
  loads: 0, // models loading, abandoned ones included (each disposed as it arrives)
  stream: null, // the camera's stream, once open and still wanted
  live: false, // classifying the camera (false while a dropped photo is shown)
  photo: null, // the photo shown: { data, width, height, name }
  shown: 0, // the number of the request (latest.source) whose camera or photo is shown
  classified: 0, // camera frames and photos
  last: { label: null, frameLabel: null, dog: NaN, neither: null, ms: NaN, source: null, width: 0, height: 0, model: null },
  error: null,
};
// The latest request wins. Each request for what is shown (a camera opening, a photo) or for the model
// takes a number; after each wait, a request whose number is no longer the latest lets go of what it got
// and stops. So the page keeps one camera stream and one model, whatever the user does and however fast
// (a replaced model lives on only until the inferences holding it end).
const latest = { source: 0, model: 0 };
const reader = new FrameReader();
const view = new ResultView();
const steady = new SteadyAnswer();
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

/** The model in use, held for one inference: it is disposed only once no inference holds it. */
function holdModel() {
  const model = state.model;
  model.users += 1;
  return model;
}

function releaseModel(model) {
  model.users -= 1;
  if (model.retired && model.users === 0) tf.dispose(model.loaded.model);
}

/** A model replaced by another: disposed now, or when the last inference holding it ends. */
function retireModel(model) {
  model.retired = true;
  if (model.users === 0) tf.dispose(model.loaded.model);
}

// One classification of RGBA pixels of what request `request` shows; `started` is when reading them began.
// Shows the answer unless another camera or photo is shown meanwhile. Makes no object of its own per frame
// (what predict's TF.js calls make: see classifier.js).
async function classifyPixels(pixels, width, height, source, started, request) {
  const model = holdModel();
  try {
    const preprocessStart = performance.now();
    const input = model.preprocessor.run(pixels, width, height);
    const modelStart = performance.now();
    const { dog, neither } = await predict(model.loaded, input);
    if (request !== state.shown) return;
    const showStart = performance.now();
    const frameLabel = labelFor(dog, neither, model.loaded.neitherThreshold, settings);
    // The camera's answer is its last frames' (evidence.js); a photo's is its own.
    const label = source === "camera" ? steady.add(frameLabel, showStart) : frameLabel;
    const last = state.last;
    last.label = label;
    last.frameLabel = frameLabel;
    last.dog = dog;
    last.neither = neither;
    last.ms = performance.now() - started;
    last.source = source;
    last.width = width;
    last.height = height;
    last.model = model.entry.id;
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
  } finally {
    releaseModel(model);
  }
}

// The loop's work per camera frame: read it into the reused buffer, preprocess, classify, show.
async function classifyCameraFrame() {
  const started = performance.now();
  const request = state.shown; // the loop is stopped, and waited for, before another camera or photo is shown
  const pixels = await reader.read(ui.preview);
  await classifyPixels(pixels, reader.width, reader.height, "camera", started, request);
}

/** Classify the camera again, if it is shown and a model is there and none is loading. */
function resumeLoop() {
  if (state.live && state.model && state.loading === null) loop.start();
}

/** Stop classifying the camera and let its stream go (the loop must be stopped). */
function closeCamera() {
  state.stream?.getTracks().forEach((track) => track.stop());
  state.stream = null;
  state.live = false;
  ui.preview.srcObject = null;
}

// Open camera `deviceId` (or the default) and classify it. One camera at a time: the stream in use stops
// first (a phone may open only one of its cameras at once), and of requests made meanwhile the latest wins.
async function startCamera(deviceId) {
  const request = ++latest.source;
  if (!cameraAvailable()) {
    fail(NO_CAMERA_ACCESS);
    return;
  }
  await loop.stopped();
  if (request !== latest.source) return;
  closeCamera();
  let stream;
  try {
    stream = await openCamera(deviceId);
  } catch (error) {
    if (request === latest.source) fail(cameraErrorText(error));
    return;
  }
  if (request !== latest.source) {
    stream.getTracks().forEach((track) => track.stop());
    return;
  }
  state.stream = stream;
  state.shown = request;
  state.live = true;
  state.photo = null;
  // Unplugged, or its permission withdrawn: the browser ends the track (a page's own stop() does not).
  stream.getVideoTracks()[0]?.addEventListener("ended", () => cameraEnded(stream));
  ui.preview.srcObject = stream;
  ui.preview.hidden = false;
  ui.photo.hidden = true;
  clearError(/camera/i);
  loop.newSource();
  steady.reset();
  resumeLoop();
  await showCameras();
}

async function cameraEnded(stream) {
  if (stream !== state.stream) return; // a stream the page had already let go
  await loop.stopped();
  if (stream !== state.stream) return; // let go meanwhile (another camera is opening)
  closeCamera();
  fail("The camera stopped: it was unplugged, turned off, or its permission withdrawn. Press “Resume camera” to start it again, or classify a photo.");
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
  if (!state.model) {
    fail("No model is loaded, so the photo cannot be classified.");
    return;
  }
  const request = ++latest.source;
  const started = performance.now();
  let photo;
  try {
    photo = await photoPixels(file);
  } catch {
    if (request === latest.source) fail(`${file.name} could not be decoded as an image.`);
    return;
  }
  await loop.stopped();
  if (request !== latest.source) return;
  state.live = false; // the camera's stream stays open (“Resume camera” opens it anew)
  state.shown = request;
  state.photo = { ...photo, name: file.name };
  URL.revokeObjectURL(ui.photo.src);
  ui.photo.src = URL.createObjectURL(file);
  ui.photo.hidden = false;
  ui.preview.hidden = true;
  await classifyShownPhoto(started, request);
}

// The photo on screen, by the model in use (again after a model switch).
async function classifyShownPhoto(started, request) {
  const { data, width, height, name } = state.photo;
  try {
    await classifyPixels(data, width, height, `photo ${name}`, started, request);
    if (request === state.shown) clearError(/./);
  } catch (error) {
    if (request === state.shown) fail(`Classifying ${name} failed: ${error.message}`);
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
  const request = ++latest.model;
  if (state.model?.entry.id === id) {
    showModel(); // asked back for the model in use while another loads: that one is disposed as it arrives
    resumeLoop();
    return;
  }
  state.loading = id;
  ui.modelInfo.textContent = `Loading ${id}…`;
  // The camera waits meanwhile: on a phone's few cores, loading and the first run go faster. The model in
  // use stays until the next one is ready, and classifies again should that fail to load.
  await loop.stopped();
  if (request !== latest.model) return;
  let loaded;
  let preprocessor;
  state.loads += 1;
  try {
    preprocessor = await Preprocessor.create(entry.input);
    loaded = await loadModel(entry, MANIFEST_URL);
  } catch (error) {
    if (request !== latest.model) return;
    showModel();
    resumeLoop();
    const still = state.model ? ` Still classifying with ${state.model.entry.id}.` : "";
    fail(`The model “${id}” failed to load (${entry.model_url}): ${error.message}.${still} Re-run the export: kedro run --pipelines export.`);
    return;
  } finally {
    state.loads -= 1;
  }
  if (request !== latest.model) {
    tf.dispose(loaded.model);
    return;
  }
  const previous = state.model;
  state.model = { entry, loaded, preprocessor, users: 0, retired: false };
  steady.reset(); // the last frames' answers were another model's
  if (previous) retireModel(previous);
  showModel();
  clearError(/model/i);
  if (state.live) resumeLoop();
  else if (state.photo) await classifyShownPhoto(performance.now(), state.shown);
}

function showModel() {
  const entry = state.model?.entry;
  ui.modelInfo.textContent = entry ? describeModel(entry) : "No model loaded";
  ui.modelLineage.textContent = entry ? describeLineage(entry) : "";
  if (entry) ui.modelSelect.value = entry.id;
  state.loading = null;
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
  const lineage = await fetch(LINEAGE_URL, { cache: "no-cache" })
    .then((answer) => (answer.ok ? answer.json() : {}))
    .catch(() => ({}));
  for (const entry of manifest.models) Object.assign(entry, lineage[entry.model_md5]);
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
      steady.reset(); // answers by another band
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
        model: state.model?.entry.id ?? null,
        loading: state.loading,
        loads: state.loads,
        camera: state.stream ? "on" : "off",
        live: state.live,
        frames: state.classified,
        last: state.last.label === null ? null : state.last,
        error: state.error,
        settings,
        notes,
        wasmThreads: state.backend === "wasm" ? tf.wasm.getThreadsCount() : null,
        crossOriginIsolated: globalThis.crossOriginIsolated,
        pixels: reader.method,
        preprocessing: state.model?.preprocessor.engine.name ?? null,
        pixelsFallback: reader.fallbackReason,
        pixelsDrawn: reader.drawn,
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
    lastInput: () => Array.from(state.model.preprocessor.output),
    // Run the loaded model on an already-preprocessed input (for parity with Keras) and time it.
    predict: async (values) => {
      const input = Float32Array.from(values);
      const model = holdModel();
      try {
        const started = performance.now();
        const { dog, neither } = await predict(model.loaded, input);
        return { dog, neither, ms: performance.now() - started };
      } finally {
        releaseModel(model);
      }
    },
    // The live loop's per-frame work `count` times on the current camera frame (loop paused meanwhile).
    runFrames: async (count) => {
      await loop.stopped();
      const started = performance.now();
      for (let i = 0; i < count; i++) await classifyCameraFrame();
      const ms = performance.now() - started;
      resumeLoop();
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
  ui.status.textContent = state.model ? `Ready on ${state.backend}` : "Model failed to load";
  if (settings.camera) await startCamera();
}

main().catch((error) => fail(`The page failed to start: ${error.message}`));
