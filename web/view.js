// What the page shows: its elements (looked up once), the answer, the cat-to-dog scale, messages, notes,
// and the model's description. Per frame, only what changed is written.

const byId = (id) => document.getElementById(id);

export const ui = Object.freeze({
  status: byId("status"),
  message: byId("message"),
  notes: byId("notes"),
  dropZone: byId("drop-zone"),
  preview: byId("preview"),
  photo: byId("photo"),
  cameraSelect: byId("camera-select"),
  cameraButton: byId("camera-button"),
  fileInput: byId("file-input"),
  label: byId("label"),
  announcer: byId("announcer"),
  scale: byId("scale"),
  band: byId("band"),
  fill: byId("scale-fill"),
  marker: byId("scale-marker"),
  probability: byId("probability"),
  neitherScore: byId("neither-score"),
  inferenceMs: byId("inference-ms"),
  fps: byId("fps"),
  backend: byId("backend"),
  source: byId("source"),
  modelSelect: byId("model-select"),
  modelInfo: byId("model-info"),
  modelLineage: byId("model-lineage"),
  interval: byId("interval"),
  bandLow: byId("band-low"),
  bandHigh: byId("band-high"),
});

export const LABEL_TEXT = Object.freeze({
  cat: "cat",
  dog: "dog",
  unsure: "not sure",
  neither: "No cat or dog",
});

/** The answer: "neither" when the model has a third answer and its score reaches the threshold, else by P(dog). */
export function labelFor(dog, neither, neitherThreshold, { low, high }) {
  if (neither !== null && neither >= neitherThreshold) return "neither";
  if (dog >= high) return "dog";
  if (dog <= low) return "cat";
  return "unsure";
}

// Screen readers hear the answer once it has held for this long: not every flicker, not 50 times a second.
const ANNOUNCE_AFTER_MS = 800;
const STATS_EVERY_MS = 250; // inference time and frame rate: readable, and not a string per frame

/** Shows one answer after another, writing to the page only what changed. */
export class ResultView {
  constructor() {
    this.label = null;
    this.permille = -1; // P(dog) in thousandths, as shown
    this.neitherPermille = -1;
    this.source = null;
    this.spoken = "";
    this.pending = "";
    this.announceTimer = null;
    this.statsAt = -Infinity;
    this.framesAt = 0;
    this.announce = this.announce.bind(this);
  }

  show(label, dog, neither, source) {
    if (label !== this.label) {
      this.label = label;
      ui.label.textContent = LABEL_TEXT[label];
      ui.label.className = `label-${label}`;
      ui.scale.classList.toggle("dimmed", label === "neither");
      this.say(LABEL_TEXT[label]);
    }
    const permille = Math.round(dog * 1000);
    if (permille !== this.permille) {
      this.permille = permille;
      // A fill from the middle towards the winning side, and a marker at P(dog): P(dog) = 0 reads "all cat".
      const p = permille / 10;
      ui.fill.style.left = `${Math.min(p, 50)}%`;
      ui.fill.style.width = `${Math.abs(p - 50)}%`;
      ui.fill.className = p < 50 ? "towards-cat" : "towards-dog";
      ui.marker.style.left = `${p}%`;
      ui.probability.textContent = `P(dog) ${(permille / 1000).toFixed(3)}`;
    }
    const neitherPermille = neither === null ? -1 : Math.round(neither * 1000);
    if (neitherPermille !== this.neitherPermille) {
      this.neitherPermille = neitherPermille;
      ui.neitherScore.hidden = neither === null;
      if (neither !== null) ui.neitherScore.textContent = `Not a cat or dog: ${(neitherPermille / 1000).toFixed(3)}`;
    }
    if (source !== this.source) {
      this.source = source;
      ui.source.textContent = source;
    }
  }

  /** Inference time and frames per second, at most every STATS_EVERY_MS (`frames` counts camera frames). */
  showStats(ms, frames, live) {
    const now = performance.now();
    if (live && now - this.statsAt < STATS_EVERY_MS) return;
    ui.inferenceMs.textContent = `${ms.toFixed(1)} ms`;
    if (!live) {
      ui.fps.textContent = "—";
      this.statsAt = -Infinity;
      return;
    }
    if (Number.isFinite(this.statsAt)) {
      ui.fps.textContent = String(Math.round(((frames - this.framesAt) * 1000) / (now - this.statsAt)));
    }
    this.statsAt = now;
    this.framesAt = frames;
  }

  say(text) {
    this.pending = text;
    clearTimeout(this.announceTimer);
    this.announceTimer = text === this.spoken ? null : setTimeout(this.announce, ANNOUNCE_AFTER_MS);
  }

  announce() {
    this.announceTimer = null;
    this.spoken = this.pending;
    ui.announcer.textContent = this.pending;
  }

  /** The "not sure" band on the scale. */
  showBand({ low, high }) {
    ui.band.style.left = `${low * 100}%`;
    ui.band.style.width = `${(high - low) * 100}%`;
  }
}

export function showMessage(text, kind = "error") {
  ui.message.textContent = text;
  ui.message.className = kind;
  ui.message.hidden = false;
}

export function clearMessage() {
  ui.message.hidden = true;
  ui.message.textContent = "";
}

/** Notes about settings that were ignored, visible until the page reloads. */
export function addNotes(notes) {
  for (const text of notes) ui.notes.append(Object.assign(document.createElement("li"), { textContent: text }));
  ui.notes.hidden = ui.notes.children.length === 0;
}

export function describeModel(entry) {
  const accuracy = entry.metrics?.test_accuracy;
  const parts = [
    `${entry.variant}`,
    `${entry.registered_model_name}${entry.version ? ` v${entry.version}` : ""}`,
    entry.aliases.length ? `@${entry.aliases.join(", @")}` : null,
    accuracy === undefined ? "test accuracy n/a" : `test accuracy ${(accuracy * 100).toFixed(1)}%`,
    `${entry.input.width}x${entry.input.height} ${entry.input.color_mode}`,
    entry.quantization !== "none" ? entry.quantization : null,
    entry.neither ? "answers “no cat or dog” too" : null,
    `${(entry.size_bytes / 1e6).toFixed(1)} MB`,
  ];
  return parts.filter(Boolean).join(" · ");
}

// Where the model comes from, in two hops: its MLflow runs, and their git commit and data hash.
export function describeLineage(entry) {
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

export function modelOption(entry) {
  const aliases = entry.aliases.length ? ` @${entry.aliases.join(",@")}` : "";
  return new Option(`${entry.variant}${entry.version ? ` v${entry.version}` : ""}${aliases}`, entry.id);
}
