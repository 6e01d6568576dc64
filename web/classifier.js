// TF.js side of the page: which backend runs, loading a model and finding its outputs, one inference.

import { BACKENDS } from "./settings.js";

const tf = globalThis.tf;

// The model's P(dog) output, and the name a third answer's output carries in the manifest (`neither.output`).
export const DOG_OUTPUT = "dog_probability";
// WebGL through a software rasteriser is slower than WASM (SwiftShader: 220-300 ms a frame for `transfer`).
const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|software|basic render/i;

/** The WebGL renderer's name, or null without WebGL. */
export function webglRenderer() {
  const canvas = document.createElement("canvas");
  const gl = canvas.getContext("webgl2") || canvas.getContext("webgl");
  if (!gl) return null;
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension("WEBGL_lose_context")?.loseContext(); // TF.js makes its own context
  return renderer;
}

/** Backends to try, in order: WebGL on a hardware GPU only, then WASM, then CPU; or `forced` alone. */
export function backendOrder(forced, renderer) {
  if (forced) return [forced];
  const hardwareWebGL = typeof renderer === "string" && !SOFTWARE_RENDERER.test(renderer);
  return BACKENDS.filter((name) => name !== "webgl" || hardwareWebGL);
}

/**
 * WASM threads for `cores` logical cores: `requested`, or half the cores as TF.js chooses (it assumes two
 * hyperthreads per core) but at least two where there are two: one thread leaves half of a 2-core machine
 * idle (measured there: both models 1.5-2.5x faster with two; README: Benchmarks).
 */
export function wasmThreads(requested, cores) {
  if (requested) return requested;
  const logical = Math.max(1, cores || 1);
  return Math.max(Math.min(logical, 2), Math.floor(logical / 2));
}

/**
 * Run `start` (TF.js starting its WASM module) so that the module starts `threads` threads. TF.js caps
 * tf.wasm.setThreadsCount at half of navigator.hardwareConcurrency, read as the module starts, so the page
 * shows the module twice `threads` for as long as it starts, then the real count again.
 */
async function withWasmThreads(threads, start) {
  tf.wasm.setThreadsCount(threads);
  Object.defineProperty(navigator, "hardwareConcurrency", { value: 2 * threads, configurable: true });
  try {
    return await start();
  } finally {
    delete navigator.hardwareConcurrency; // the browser's own getter (Navigator.prototype) again
  }
}

/**
 * Start the first backend of `backendOrder` that works: `{ name, renderer }`. WASM runs multithreaded when
 * the page is cross-origin isolated (serve.py sends the headers), `threads` threads (null: `wasmThreads`).
 */
export async function startBackend(forced, threads = null) {
  tf.wasm.setWasmPaths(new URL("vendor/", document.baseURI).href);
  const renderer = webglRenderer();
  const failures = [];
  const threadCount = wasmThreads(threads, navigator.hardwareConcurrency);
  for (const name of backendOrder(forced, renderer)) {
    try {
      const start = () => tf.setBackend(name);
      if (await (name === "wasm" ? withWasmThreads(threadCount, start) : start())) {
        await tf.ready();
        return { name, renderer };
      }
      failures.push(`${name}: not available`);
    } catch (error) {
      failures.push(`${name}: ${error.message}`);
    }
  }
  throw new Error(`no TF.js backend could start (${failures.join("; ")})`);
}

// "Identity" → 0, "Identity_3" → 3, anything else → -1.
function identityIndex(node) {
  const match = /^Identity(?:_(\d+))?$/.exec(node);
  return match ? Number(match[1] ?? 0) : -1;
}

/**
 * The graph's output node for each output name. Found, in order, through the converter's structured output
 * keys (`use_structured_outputs_names`), the signature's keys, or, when the converter keyed equal-shaped
 * outputs by tensor name (it does for a Keras dict of outputs), TensorFlow's own order: a dict is flattened
 * by sorted key, and its outputs are named Identity, Identity_1, ... in that order.
 */
export function outputNodes(model, names) {
  const nodes = model.outputNodes;
  if (names.length === 1 && nodes.length === 1) return nodes.slice();
  const keys = model.modelStructuredOutputKeys ?? [];
  const signature = model.modelSignature?.outputs ?? {};
  const byIdentity = nodes.slice().sort((a, b) => identityIndex(a) - identityIndex(b));
  const sortedNames = names.slice().sort();
  const flattened = nodes.length === names.length && nodes.every((node) => identityIndex(node) >= 0);
  return names.map((name) => {
    if (keys.includes(name)) return nodes[keys.indexOf(name)];
    if (signature[name]) return signature[name].name.replace(/:\d+$/, "");
    if (flattened) return byIdentity[sortedNames.indexOf(name)];
    throw new Error(`the model has no output “${name}” (its outputs: ${nodes.join(", ")})`);
  });
}

/**
 * Load one manifest entry's graph model, find its outputs (P(dog), and the "neither" score when the entry
 * has one) and run it once, so the first frame is not the slow one. Returns what `predict` takes.
 */
export async function loadModel(entry, baseUrl) {
  const url = new URL(entry.model_url, baseUrl).href;
  const model = await tf.loadGraphModel(url);
  try {
    const { height, width, channels } = entry.input;
    const expected = [height, width, channels];
    const actual = model.inputs[0].shape.slice(1);
    if (actual.some((size, i) => size !== -1 && size !== expected[i])) {
      throw new Error(`${url} takes input ${actual.join("x")}, the manifest says ${expected.join("x")}`);
    }
    const neither = entry.neither ?? null;
    if (neither && !(neither.threshold >= 0 && neither.threshold <= 1)) {
      throw new Error(`the manifest's neither.threshold is ${neither.threshold}, not a probability`);
    }
    const names = neither ? [DOG_OUTPUT, neither.output] : [DOG_OUTPUT];
    const nodes = outputNodes(model, names);
    const loaded = {
      model,
      nodes: nodes.length === 1 ? nodes[0] : nodes,
      shape: [1, height, width, channels],
      neitherThreshold: neither ? neither.threshold : null,
      result: { dog: NaN, neither: null }, // reused by every predict()
    };
    await predict(loaded, new Float32Array(height * width * channels));
    return loaded;
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/**
 * One inference on a preprocessed input (`values`, reusable as soon as this returns): `{ dog, neither }`,
 * neither null for a model without a third answer. The returned object is reused by the next call.
 *
 * Per call, TF.js's API allows no less than one input tensor and one readback array per output: a
 * tensor's values cannot be rewritten (tensors are immutable; Variable.assign takes another tensor), and
 * data() always returns a new array. So each call makes an input tensor (WASM copies `values` into its
 * heap, into memory its allocator reuses once the tensor is disposed; CPU keeps a reference to `values`;
 * WebGL uploads them to a texture TF.js recycles) and reads each output's one number into a new 1-element
 * array. The tensors are disposed before the call returns and the arrays left to the garbage collector:
 * the page's own objects stay flat (tests/web/test_camera.py).
 */
export async function predict(loaded, values) {
  const { model, nodes, shape, result } = loaded;
  const outputs = tf.tidy(() => model.execute(tf.tensor(values, shape, "float32"), nodes));
  try {
    if (Array.isArray(outputs)) {
      result.dog = (await outputs[0].data())[0];
      result.neither = (await outputs[1].data())[0];
    } else {
      result.dog = (await outputs.data())[0];
      result.neither = null;
    }
    return result;
  } finally {
    tf.dispose(outputs);
  }
}
