// TF.js side of the page: backend choice, model loading, and preprocessing that reproduces training's.
//
// Training (src/cat_dog_classifier/images.py) decodes to 8-bit RGB, converts to grayscale with OpenCV's
// weights when the model is grayscale, then stretches the WHOLE image to the model's size with cv2.resize
// INTER_AREA (no crop, aspect ratio not kept), rounding to uint8 after each step. The model takes those uint8
// values as float 0-255 (its rescaling is a layer inside it). This module does the same with tensor ops.

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

/** Start the first backend that works, in the order WebGL, WASM, CPU (or only `forced`). */
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

// OpenCV's INTER_AREA as a (out x in) weight matrix for one axis, so that resizing is two matrix products.
function areaWeights(inSize, outSize) {
  const weights = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  if (scale >= 1) {
    // Downscaling: each output pixel averages the source pixels its box covers, partly covered ones pro rata.
    for (let o = 0; o < outSize; o++) {
      const start = o * scale;
      const end = Math.min(start + scale, inSize);
      for (let i = Math.floor(start); i < Math.ceil(end); i++) {
        const overlap = Math.min(end, i + 1) - Math.max(start, i);
        if (overlap > 0) weights[o * inSize + i] = overlap / (end - start);
      }
    }
  } else {
    // Upscaling: cv2.resize's INTER_AREA branch for enlargement (two taps, area-style fraction).
    for (let o = 0; o < outSize; o++) {
      let source = Math.floor((o + 0.5) * scale - 0.5);
      let fraction = o + 1 - (source + 1) / scale;
      fraction = fraction <= 0 ? 0 : fraction - Math.floor(fraction);
      if (source < 0) [source, fraction] = [0, 0];
      if (source >= inSize - 1) [source, fraction] = [inSize - 1, 0];
      weights[o * inSize + source] += 1 - fraction;
      if (fraction > 0) weights[o * inSize + source + 1] += fraction;
    }
  }
  return weights;
}

// Weight matrices per (source size, model size): a camera keeps one size, so they are built once and kept.
const resizeMatrices = new Map();
function resizeMatricesFor(inHeight, inWidth, outHeight, outWidth) {
  const key = `${inHeight}x${inWidth}>${outHeight}x${outWidth}`;
  if (!resizeMatrices.has(key)) {
    resizeMatrices.set(key, {
      rows: tf.keep(tf.tensor2d(areaWeights(inHeight, outHeight), [outHeight, inHeight])),
      colsT: tf.keep(tf.transpose(tf.tensor2d(areaWeights(inWidth, outWidth), [outWidth, inWidth]))),
    });
    // Only the transposed matrix is kept; the caller's tidy releases the one it came from.
  }
  return resizeMatrices.get(key);
}

/** Number of tensors the preprocessing keeps on purpose (resize matrices); the rest is per frame. */
export function cachedTensorCount() {
  return resizeMatrices.size * 2;
}

/**
 * ImageData (RGBA) → the model's input batch [1, H, W, C] float32 holding uint8 values, as training made them.
 * Call inside tf.tidy().
 */
export function preprocess(imageData, input) {
  // Functional ops only: the core bundle does not register chained tensor methods.
  const { height, width, channels } = input;
  let pixels = tf.cast(tf.browser.fromPixels(imageData, 3), "float32"); // [h, w, 3] R, G, B
  if (channels === 1) {
    // cv2.COLOR_RGB2GRAY on uint8 is fixed point: (4899 R + 9617 G + 1868 B + 2^13) >> 14.
    const weighted = tf.sum(tf.mul(pixels, tf.tensor1d([4899, 9617, 1868])), -1, true);
    pixels = tf.floor(tf.div(tf.add(weighted, 8192), 16384));
  }
  const [inHeight, inWidth, c] = pixels.shape;
  const { rows, colsT } = resizeMatricesFor(inHeight, inWidth, height, width);
  // Rows: [H, h] x [h, w*C]; then columns, per channel: [H*C, w] x [w, W].
  const tall = tf.reshape(tf.matMul(rows, tf.reshape(pixels, [inHeight, inWidth * c])), [height, inWidth, c]);
  const perChannel = tf.reshape(tf.transpose(tall, [0, 2, 1]), [height * c, inWidth]);
  const resized = tf.transpose(tf.reshape(tf.matMul(perChannel, colsT), [height, c, width]), [0, 2, 1]);
  // cv2.resize rounds to uint8 (half to even, as tf.round does); clip guards float error at 0 and 255.
  return tf.expandDims(tf.clipByValue(tf.round(resized), 0, 255), 0);
}

/** Probability of "dog" for one preprocessed batch; returns a number, leaves no tensor behind. */
export async function predictDog(model, batch) {
  const output = tf.tidy(() => model.predict(batch));
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
