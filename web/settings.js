// The page's settings: defaults, and the address's `?interval=&low=&high=&backend=&threads=&model=&camera=`
// checked one by one. A value that makes no sense falls back to its default with a note saying so.

export const DEFAULTS = Object.freeze({ intervalMs: 20, low: 0.35, high: 0.65 });
export const BACKENDS = Object.freeze(["webgl", "wasm", "cpu"]);
const MAX_INTERVAL_MS = 60_000;
// TF.js's WASM module starts 8 workers for its threads: more cannot start.
export const MAX_WASM_THREADS = 8;

// A number, or NaN: Number("") is 0 and Number(" 5 ") is 5, which no one means in an address.
function strictNumber(text) {
  const written = String(text ?? "");
  return written === "" || written.trim() !== written ? NaN : Number(written);
}

/** Minimum milliseconds between two classifications, or null if `text` is not one. */
export function parseInterval(text) {
  const value = strictNumber(text);
  return Number.isFinite(value) && value >= 1 && value <= MAX_INTERVAL_MS ? value : null;
}

/** A probability (0 to 1), or null. */
export function parseProbability(text) {
  const value = strictNumber(text);
  return Number.isFinite(value) && value >= 0 && value <= 1 ? value : null;
}

/** A number of WASM threads (a whole number from 1 to MAX_WASM_THREADS), or null. */
export function parseThreads(text) {
  const value = strictNumber(text);
  return Number.isInteger(value) && value >= 1 && value <= MAX_WASM_THREADS ? value : null;
}

/** The "not sure" band [low, high] from two texts, or null if either is no probability or low > high. */
export function parseBand(lowText, highText) {
  const low = parseProbability(lowText);
  const high = parseProbability(highText);
  return low === null || high === null || low > high ? null : { low, high };
}

/** Settings from a URLSearchParams: `{ settings, notes }`, a note per value that was ignored. */
export function readSettings(query) {
  const notes = [];
  const settings = { ...DEFAULTS, backend: null, threads: null, model: query.get("model"), camera: true };

  if (query.has("interval")) {
    const interval = parseInterval(query.get("interval"));
    if (interval === null) {
      notes.push(`Ignored interval=${query.get("interval")}: not a number of milliseconds from 1 to ${MAX_INTERVAL_MS}; classifying every ${DEFAULTS.intervalMs} ms.`);
    } else {
      settings.intervalMs = interval;
    }
  }
  if (query.has("low") || query.has("high")) {
    const lowText = query.get("low") ?? String(DEFAULTS.low);
    const highText = query.get("high") ?? String(DEFAULTS.high);
    const band = parseBand(lowText, highText);
    if (band === null) {
      notes.push(`Ignored low=${lowText}, high=${highText}: both must be probabilities from 0 to 1, low ≤ high; “not sure” is ${DEFAULTS.low} to ${DEFAULTS.high}.`);
    } else {
      Object.assign(settings, band);
    }
  }
  const backend = query.get("backend");
  if (backend !== null) {
    if (BACKENDS.includes(backend)) settings.backend = backend;
    else notes.push(`Ignored backend=${backend}: not one of ${BACKENDS.join(", ")}; choosing one automatically.`);
  }
  if (query.has("threads")) {
    const threads = parseThreads(query.get("threads"));
    if (threads === null) {
      notes.push(`Ignored threads=${query.get("threads")}: not a whole number of WASM threads from 1 to ${MAX_WASM_THREADS}; choosing by the cores.`);
    } else {
      settings.threads = threads;
    }
  }
  const camera = query.get("camera");
  if (camera !== null) {
    if (camera === "off") settings.camera = false;
    else if (camera !== "on") notes.push(`Ignored camera=${camera}: “on” or “off”.`);
  }
  return { settings, notes };
}
