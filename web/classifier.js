// TF.js side of the page: backend choice, model loading, and preprocessing that reproduces training's.
//
// Training (src/cat_dog_classifier/images.py) decodes to 8-bit RGB, converts to grayscale with OpenCV's
// weights when the model is grayscale, then stretches the WHOLE image to the model's size with cv2.resize
// INTER_AREA (no crop, aspect ratio not kept), rounding to uint8 after each step. The model takes those uint8
// values as float 0-255 (its rescaling is a layer inside it). This module does the same.

const tf = globalThis.tf;

export const BACKENDS = ["webgl", "wasm", "cpu"];

// WebGL through a software rasteriser (SwiftShader, llvmpipe) is slower than WASM: treat it as absent.
function hardwareWebGL() {
  const gl = document.createElement("canvas").getContext("webgl2") ||
    document.createElement("canvas").getContext("webgl");
  if (!gl) return false;
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  const renderer = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  return !/swiftshader|llvmpipe|software/i.test(String(renderer));
}

/**
 * Start the first backend that works, in the order WebGL, WASM, CPU (or only `forced`). WASM may run
 * multithreaded when the page is cross-origin isolated (serve.py sends the headers); TF.js sizes its
 * thread pool from the core count (one thread on a 2-core machine).
 */
export async function startBackend(forced) {
  tf.wasm.setWasmPaths(new URL("vendor/", document.baseURI).href);
  const candidates = forced ? [forced] : BACKENDS.filter((b) => b !== "webgl" || hardwareWebGL());
  const failures = [];
  for (const name of candidates) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        return name;
      }
      failures.push(`${name}: not available`);
    } catch (error) {
      failures.push(`${name}: ${error.message}`);
    }
  }
  throw new Error(`no TF.js backend could start (${failures.join("; ")})`);
}

/** Load one manifest entry's graph model and run it once, so the first frame is not the slow one. */
export async function loadModel(entry, baseUrl) {
  const url = new URL(entry.model_url, baseUrl).href;
  const model = await tf.loadGraphModel(url);
  const { height, width, channels } = entry.input;
  const expected = [height, width, channels];
  const actual = model.inputs[0].shape.slice(1);
  if (actual.some((size, i) => size !== -1 && size !== expected[i])) {
    model.dispose();
    throw new Error(`${url} takes input ${actual.join("x")}, the manifest says ${expected.join("x")}`);
  }
  tf.tidy(() => model.predict(tf.zeros([1, ...expected])).dataSync());
  return model;
}

// OpenCV's INTER_AREA along one axis, as taps: output i = sum of weights[i][k] * input[first[i] + k].
function areaTaps(inSize, outSize) {
  const scale = inSize / outSize;
  const first = new Int32Array(outSize);
  const weights = [];
  for (let o = 0; o < outSize; o++) {
    if (scale >= 1) {
      // Downscaling: average the source pixels the output's box covers, partly covered ones pro rata.
      const start = o * scale;
      const end = Math.min(start + scale, inSize);
      first[o] = Math.floor(start);
      const taps = [];
      for (let i = first[o]; i < Math.ceil(end); i++) {
        taps.push((Math.min(end, i + 1) - Math.max(start, i)) / (end - start));
      }
      weights.push(Float64Array.from(taps));
    } else {
      // Upscaling: cv2.resize's INTER_AREA branch for enlargement (two taps, area-style fraction).
      let source = Math.floor((o + 0.5) * scale - 0.5);
      let fraction = o + 1 - (source + 1) / scale;
      fraction = fraction <= 0 ? 0 : fraction - Math.floor(fraction);
      if (source < 0) [source, fraction] = [0, 0];
      if (source >= inSize - 1) [source, fraction] = [inSize - 1, 0];
      first[o] = source;
      weights.push(Float64Array.from(fraction > 0 ? [1 - fraction, fraction] : [1]));
    }
  }
  return { first, weights };
}

// Taps per (source size, model size): a camera keeps one size, so they are computed once.
const tapsCache = new Map();
function cachedTaps(inSize, outSize) {
  const key = `${inSize}>${outSize}`;
  if (!tapsCache.has(key)) tapsCache.set(key, areaTaps(inSize, outSize));
  return tapsCache.get(key);
}

// cv2.resize writes uint8 through saturate_cast, which rounds half to even.
function toUint8(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  const rounded = diff > 0.5 || (diff === 0.5 && floor % 2 !== 0) ? floor + 1 : floor;
  return Math.min(255, Math.max(0, rounded));
}

/**
 * ImageData (RGBA) → the model's input, H x W x C float32 holding uint8 values, as training made it.
 * Plain loops over the few source pixels each output pixel averages: far cheaper than tensor ops
 * over the whole frame, and nothing to dispose.
 */
export function preprocess(imageData, input) {
  const { height, width, channels } = input;
  const { data, width: inWidth, height: inHeight } = imageData;
  const source = new Float32Array(inWidth * inHeight * channels);
  for (let p = 0, q = 0; p < inWidth * inHeight; p++, q += 4) {
    if (channels === 1) {
      // cv2.COLOR_RGB2GRAY on uint8 is fixed point: (4899 R + 9617 G + 1868 B + 2^13) >> 14.
      source[p] = (4899 * data[q] + 9617 * data[q + 1] + 1868 * data[q + 2] + 8192) >> 14;
    } else {
      source[3 * p] = data[q];
      source[3 * p + 1] = data[q + 1];
      source[3 * p + 2] = data[q + 2];
    }
  }
  // Columns first, then rows, in floating point: OpenCV rounds only once, at the end.
  const columns = cachedTaps(inWidth, width);
  const rowStride = width * channels;
  const narrow = new Float64Array(inHeight * rowStride);
  for (let y = 0; y < inHeight; y++) {
    for (let x = 0; x < width; x++) {
      const taps = columns.weights[x];
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        let at = (y * inWidth + columns.first[x]) * channels + c;
        for (let k = 0; k < taps.length; k++, at += channels) sum += taps[k] * source[at];
        narrow[y * rowStride + x * channels + c] = sum;
      }
    }
  }
  const rows = cachedTaps(inHeight, height);
  const output = new Float32Array(height * rowStride);
  for (let y = 0; y < height; y++) {
    const taps = rows.weights[y];
    for (let j = 0; j < rowStride; j++) {
      let sum = 0;
      for (let k = 0; k < taps.length; k++) sum += taps[k] * narrow[(rows.first[y] + k) * rowStride + j];
      output[y * rowStride + j] = toUint8(sum);
    }
  }
  return output;
}

/** Probability of "dog" for one preprocessed input; returns a number, leaves no tensor behind. */
export async function predictDog(model, values, input) {
  const output = tf.tidy(() =>
    model.predict(tf.tensor4d(values, [1, input.height, input.width, input.channels])),
  );
  try {
    return (await output.data())[0];
  } finally {
    output.dispose();
  }
}

/** Draw any image source (video frame, bitmap) on a canvas at full size, on white (as training composites). */
export function frameToImageData(source, canvas) {
  const width = source.videoWidth || source.width;
  const height = source.videoHeight || source.height;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.fillStyle = "#fff";
  context.fillRect(0, 0, width, height);
  context.drawImage(source, 0, 0, width, height);
  return context.getImageData(0, 0, width, height);
}
