// Training's preprocessing on RGBA pixels, bit for bit.
//
// Training (src/cat_dog_classifier/images.py) decodes to 8-bit RGB, converts to grayscale with
// cv2.cvtColor when the model is grayscale, then stretches the WHOLE image to the model's size with
// cv2.resize INTER_AREA (no crop, aspect ratio not kept). The model takes those uint8 values as float
// 0-255 (its rescaling is a layer inside it). Both steps are computed as OpenCV computes them: its
// float32 area sums in their order, its integer paths for whole-number scales and for enlarging.
// wasm/resize.ts does it with WebAssembly SIMD (about a third of plain JS's time on a camera frame,
// docs/benchmarks.md); ResizeInJs below is the same arithmetic in plain JS (float32 through
// Math.fround), for a browser without WebAssembly (Safari's Lockdown Mode), where TF.js runs on its
// CPU backend. tests/web/test_preprocess.py checks both against OpenCV on every path, to the bit.

const WASM_URL = new URL("vendor/resize.wasm", import.meta.url);
let compiled = null; // the module, compiled once for every Preprocessor

function resizeModule() {
  compiled ??= fetch(WASM_URL)
    .then((response) => {
      if (!response.ok) throw new Error(`${WASM_URL.pathname}: HTTP ${response.status} (run npm run build in web/)`);
      return response.arrayBuffer();
    })
    .then((bytes) => WebAssembly.compile(bytes));
  return compiled;
}

/** wasm/resize.ts, instantiated: its own memory, holding the source and the output. */
async function resizeInWasm() {
  const instance = await WebAssembly.instantiate(await resizeModule(), {
    env: {
      abort: () => {
        throw new Error("vendor/resize.wasm failed an internal check");
      },
    },
  });
  const wasm = instance.exports;
  return {
    name: "wasm",
    // The module's memory grows only in fit(), which detaches older views: they are made again then.
    fit(sourceWidth, sourceHeight, width, height, channels) {
      wasm.fit(sourceWidth, sourceHeight, width, height, channels);
      this.input = new Uint8Array(wasm.memory.buffer, wasm.input(), sourceWidth * sourceHeight * 4);
      this.output = new Float32Array(wasm.memory.buffer, wasm.result(), width * height * channels);
    },
    run: () => wasm.run(),
  };
}

/** Turns RGBA pixels into one model's input (H x W x C float32 holding uint8 values), as training did. */
export class Preprocessor {
  /**
   * A Preprocessor for a model input `{ height, width, channels }` (channels 1: gray, 3: RGB), in
   * WebAssembly, or in plain JS where the browser has none (or `engine` is "js").
   */
  static async create(input, engine = null) {
    const js = engine === "js" || typeof WebAssembly !== "object";
    return new Preprocessor(input, js ? new ResizeInJs() : await resizeInWasm());
  }

  constructor({ height, width, channels }, engine) {
    this.height = height;
    this.width = width;
    this.channels = channels;
    this.engine = engine;
    this.sourceWidth = 0;
    this.sourceHeight = 0;
  }

  /** The last run's result (reused by the next run). */
  get output() {
    return this.engine.output;
  }

  /** RGBA bytes of a `sourceWidth` x `sourceHeight` image → the model input (a buffer reused by the next call). */
  run(rgba, sourceWidth, sourceHeight) {
    // Tables and buffers depend on the source's size: a camera keeps one, so they are made once.
    if (sourceWidth !== this.sourceWidth || sourceHeight !== this.sourceHeight) {
      this.engine.fit(sourceWidth, sourceHeight, this.width, this.height, this.channels);
      this.sourceWidth = sourceWidth;
      this.sourceHeight = sourceHeight;
    }
    this.engine.input.set(rgba);
    this.engine.run();
    return this.engine.output;
  }
}

// OpenCV's cv2.COLOR_RGB2GRAY on uint8, fixed point (wasm/resize.ts says the same).
const GRAY = { r: 9798, g: 19235, b: 3735, shift: 15 };
const f32 = Math.fround;

// saturate_cast<uchar>(float): rounded to nearest, ties to even, then clamped.
function toUint8(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  const rounded = diff > 0.5 || (diff === 0.5 && floor % 2 !== 0) ? floor + 1 : floor;
  return rounded < 0 ? 0 : rounded > 255 ? 255 : rounded;
}

// computeResizeAreaTab, grouped by target: target t adds source first[t] + k times weights[t][k].
function areaTable(sourceSize, size, scale) {
  const first = new Int32Array(size);
  const count = new Int32Array(size);
  const weights = [];
  for (let target = 0; target < size; target++) {
    const start = target * scale;
    const end = start + scale;
    const cell = Math.min(scale, sourceSize - start);
    let low = Math.ceil(start);
    const high = Math.min(Math.floor(end), sourceSize - 1);
    low = Math.min(low, high);
    const terms = [];
    first[target] = low;
    if (low - start > 1e-3) {
      first[target] = low - 1;
      terms.push(f32((low - start) / cell));
    }
    for (let source = low; source < high; source++) terms.push(f32(1 / cell));
    if (end - high > 1e-3) terms.push(f32(Math.min(Math.min(end - high, 1), cell) / cell));
    count[target] = terms.length;
    weights.push(Float32Array.from(terms));
  }
  return { first, count, weights };
}

// The linear path's first source index and two fixed-point weights (11 bits) per target.
function linearTable(sourceSize, size) {
  const inverse = size / sourceSize;
  const scale = 1 / inverse;
  const first = new Int32Array(size);
  const weights = new Int32Array(size * 2);
  for (let target = 0; target < size; target++) {
    let source = Math.floor(target * scale);
    let fraction = f32(target + 1 - (source + 1) * inverse);
    fraction = fraction <= 0 ? 0 : f32(fraction - Math.floor(fraction));
    if (source >= sourceSize - 1) {
      fraction = 0;
      source = sourceSize - 1;
    }
    first[target] = source;
    weights[target * 2] = toEven(f32(1 - fraction) * 2048);
    weights[target * 2 + 1] = toEven(fraction * 2048);
  }
  return { first, weights };
}

function toEven(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  return diff > 0.5 || (diff === 0.5 && floor % 2 !== 0) ? floor + 1 : floor;
}

/** wasm/resize.ts in plain JS: float32 operations through Math.fround, in OpenCV's order. */
class ResizeInJs {
  constructor() {
    this.name = "js";
  }

  fit(sourceWidth, sourceHeight, width, height, channels) {
    Object.assign(this, { sourceWidth, sourceHeight, width, height, channels });
    this.input = new Uint8Array(sourceWidth * sourceHeight * 4);
    this.output = new Float32Array(width * height * channels);
    this.gray = channels === 1 ? new Uint8Array(sourceWidth * sourceHeight) : null;
    const scaleX = 1 / (width / sourceWidth);
    const scaleY = 1 / (height / sourceHeight);
    const whole = (scale) => Math.abs(scale - Math.round(scale)) < Number.EPSILON;
    if (scaleX >= 1 && scaleY >= 1) {
      this.mode = whole(scaleX) && whole(scaleY) ? "area-fast" : "area";
      if (this.mode === "area") {
        this.columns = areaTable(sourceWidth, width, scaleX);
        this.rows = areaTable(sourceHeight, height, scaleY);
        this.row = new Float32Array(width * channels);
        this.sum = new Float32Array(width * channels);
      }
    } else {
      this.mode = "linear";
      this.columns = linearTable(sourceWidth, width);
      this.rows = linearTable(sourceHeight, height);
      this.rowA = new Int32Array(width * channels);
      this.rowB = new Int32Array(width * channels);
    }
  }

  run() {
    if (this.channels === 1) this.toGray();
    if (this.mode === "area") this.area();
    else if (this.mode === "area-fast") this.areaFast();
    else this.linear();
  }

  toGray() {
    const { input, gray } = this;
    for (let p = 0, q = 0; p < gray.length; p++, q += 4) {
      const value = GRAY.r * input[q] + GRAY.g * input[q + 1] + GRAY.b * input[q + 2];
      gray[p] = (value + (1 << (GRAY.shift - 1))) >> GRAY.shift;
    }
  }

  // A source pixel's channel c.
  channel(y, x, c) {
    return this.channels === 1 ? this.gray[y * this.sourceWidth + x] : this.input[(y * this.sourceWidth + x) * 4 + c];
  }

  // ResizeArea_Invoker: each source row resized across, then weighted into the target row's sums.
  area() {
    const { columns, rows, row, sum, width, channels, output } = this;
    const stride = width * channels;
    // Gray pixels from their plane, RGB ones from RGBA.
    const pixels = channels === 1 ? this.gray : this.input;
    const step = channels === 1 ? 1 : 4;
    let previousSource = -1;
    for (let y = 0; y < this.height; y++) {
      for (let k = 0; k < rows.count[y]; k++) {
        const source = rows.first[y] + k;
        if (source !== previousSource) {
          const rowStart = source * this.sourceWidth;
          for (let x = 0; x < width; x++) {
            const weights = columns.weights[x];
            const taps = columns.count[x];
            const start = (rowStart + columns.first[x]) * step;
            for (let c = 0; c < channels; c++) {
              let total = 0;
              for (let i = 0, at = start + c; i < taps; i++, at += step) {
                total = f32(total + f32(pixels[at] * weights[i]));
              }
              row[x * channels + c] = total;
            }
          }
          previousSource = source;
        }
        const beta = rows.weights[y][k];
        for (let j = 0; j < stride; j++) sum[j] = k === 0 ? f32(beta * row[j]) : f32(sum[j] + f32(beta * row[j]));
      }
      for (let j = 0; j < stride; j++) output[y * stride + j] = toUint8(sum[j]);
    }
  }

  // resizeAreaFast_: whole-number scales average whole blocks in integers.
  areaFast() {
    const { width, height, channels, output } = this;
    const scaleX = this.sourceWidth / width;
    const scaleY = this.sourceHeight / height;
    const count = scaleX * scaleY;
    const inverse = f32(1 / count);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < channels; c++) {
          let total = 0;
          for (let dy = 0; dy < scaleY; dy++) {
            for (let dx = 0; dx < scaleX; dx++) total += this.channel(y * scaleY + dy, x * scaleX + dx, c);
          }
          output[(y * width + x) * channels + c] = count === 4 ? (total + 2) >> 2 : toUint8(f32(total * inverse));
        }
      }
    }
  }

  // HResizeLinear + VResizeLinear in fixed point, the vertical step as OpenCV's vector code does it
  // (v_mul_hi: the high half of a 16-bit lane's product).
  linear() {
    const { rows, rowA, rowB, width, height, channels, output } = this;
    for (let y = 0; y < height; y++) {
      this.linearRow(Math.min(rows.first[y], this.sourceHeight - 1), rowA);
      this.linearRow(Math.min(rows.first[y] + 1, this.sourceHeight - 1), rowB);
      const b0 = rows.weights[y * 2];
      const b1 = rows.weights[y * 2 + 1];
      for (let j = 0; j < width * channels; j++) {
        const value = ((((rowA[j] >> 4) * b0) >> 16) + (((rowB[j] >> 4) * b1) >> 16) + 2) >> 2;
        output[y * width * channels + j] = value < 0 ? 0 : value > 255 ? 255 : value;
      }
    }
  }

  // One source row resized across, into `into`.
  linearRow(y, into) {
    const { columns, width, channels } = this;
    for (let x = 0; x < width; x++) {
      const source = columns.first[x];
      const next = Math.min(source + 1, this.sourceWidth - 1);
      for (let c = 0; c < channels; c++) {
        into[x * channels + c] =
          this.channel(y, source, c) * columns.weights[x * 2] + this.channel(y, next, c) * columns.weights[x * 2 + 1];
      }
    }
  }
}
