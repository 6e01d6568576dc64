// Training's preprocessing, in plain JS, on RGBA pixels.
//
// Training (src/cat_dog_classifier/images.py) decodes to 8-bit RGB, converts to grayscale with OpenCV's
// weights when the model is grayscale, then stretches the WHOLE image to the model's size with cv2.resize
// INTER_AREA (no crop, aspect ratio not kept), rounding to uint8 after each step. The model takes those uint8
// values as float 0-255 (its rescaling is a layer inside it). A Preprocessor does the same, into buffers it
// keeps: a camera frame after the first allocates nothing.

// OpenCV's INTER_AREA along one axis, as taps: output o = sum over k < count[o] of
// weights[o * width + k] * input[first[o] + k].
function areaTaps(inSize, outSize) {
  const scale = inSize / outSize;
  const width = Math.ceil(scale) + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * width);
  for (let o = 0; o < outSize; o++) {
    if (scale >= 1) {
      // Downscaling: average the source pixels the output's box covers, partly covered ones pro rata.
      const start = o * scale;
      const end = Math.min(start + scale, inSize);
      first[o] = Math.floor(start);
      for (let i = first[o]; i < Math.ceil(end); i++) {
        weights[o * width + count[o]++] = (Math.min(end, i + 1) - Math.max(start, i)) / (end - start);
      }
    } else {
      // Upscaling: cv2.resize's INTER_AREA branch for enlargement (two taps, area-style fraction).
      let source = Math.floor((o + 0.5) * scale - 0.5);
      let fraction = o + 1 - (source + 1) / scale;
      fraction = fraction <= 0 ? 0 : fraction - Math.floor(fraction);
      if (source < 0) [source, fraction] = [0, 0];
      if (source >= inSize - 1) [source, fraction] = [inSize - 1, 0];
      first[o] = source;
      weights[o * width] = 1 - fraction;
      weights[o * width + 1] = fraction;
      count[o] = fraction > 0 ? 2 : 1;
    }
  }
  return { first, count, weights, width };
}

// cv2.resize writes uint8 through saturate_cast, which rounds half to even.
function toUint8(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  const rounded = diff > 0.5 || (diff === 0.5 && floor % 2 !== 0) ? floor + 1 : floor;
  return rounded < 0 ? 0 : rounded > 255 ? 255 : rounded;
}

/** Turns RGBA pixels into one model's input (H x W x C float32 holding uint8 values), as training did. */
export class Preprocessor {
  constructor({ height, width, channels }) {
    this.height = height;
    this.width = width;
    this.channels = channels;
    this.output = new Float32Array(height * width * channels);
    this.sourceWidth = 0;
    this.sourceHeight = 0;
  }

  // Buffers and taps depend on the source's size: a camera keeps one, so they are made once.
  fitSource(sourceWidth, sourceHeight) {
    if (sourceWidth === this.sourceWidth && sourceHeight === this.sourceHeight) return;
    this.sourceWidth = sourceWidth;
    this.sourceHeight = sourceHeight;
    this.gray = this.channels === 1 ? new Uint8Array(sourceWidth * sourceHeight) : null;
    this.narrow = new Float64Array(sourceHeight * this.width * this.channels);
    this.columns = areaTaps(sourceWidth, this.width);
    this.rows = areaTaps(sourceHeight, this.height);
  }

  /** RGBA bytes of a `sourceWidth` x `sourceHeight` image → the model input (a buffer reused by the next call). */
  run(rgba, sourceWidth, sourceHeight) {
    this.fitSource(sourceWidth, sourceHeight);
    const { channels, width, height, output } = this;
    const pixels = sourceWidth * sourceHeight;
    const gray = this.gray;
    if (channels === 1) {
      for (let p = 0, q = 0; p < pixels; p++, q += 4) {
        // cv2.COLOR_RGB2GRAY on uint8 is fixed point: (4899 R + 9617 G + 1868 B + 2^13) >> 14.
        gray[p] = (4899 * rgba[q] + 9617 * rgba[q + 1] + 1868 * rgba[q + 2] + 8192) >> 14;
      }
    }
    // Columns first, then rows, in floating point: OpenCV rounds only once, at the end.
    const narrow = this.narrow;
    const { first: colFirst, count: colCount, weights: colWeights, width: colWidth } = this.columns;
    const rowStride = width * channels;
    for (let y = 0; y < sourceHeight; y++) {
      const rowStart = y * sourceWidth;
      for (let x = 0; x < width; x++) {
        const tapStart = x * colWidth;
        const taps = colCount[x];
        if (channels === 1) {
          // Gray: from its own plane.
          let sum = 0;
          let at = rowStart + colFirst[x];
          for (let k = 0; k < taps; k++, at++) sum += colWeights[tapStart + k] * gray[at];
          narrow[y * rowStride + x] = sum;
          continue;
        }
        // RGB: straight from RGBA, the three channels in one pass over the taps (each channel's
        // sum adds its terms in the same order as a pass per channel would: the same bits).
        let r = 0;
        let g = 0;
        let b = 0;
        let at = (rowStart + colFirst[x]) * 4;
        for (let k = 0; k < taps; k++, at += 4) {
          const weight = colWeights[tapStart + k];
          r += weight * rgba[at];
          g += weight * rgba[at + 1];
          b += weight * rgba[at + 2];
        }
        const to = y * rowStride + x * 3;
        narrow[to] = r;
        narrow[to + 1] = g;
        narrow[to + 2] = b;
      }
    }
    const { first: rowFirst, count: rowCount, weights: rowWeights, width: rowWidth } = this.rows;
    for (let y = 0; y < height; y++) {
      const tapStart = y * rowWidth;
      const taps = rowCount[y];
      const base = rowFirst[y] * rowStride;
      for (let j = 0; j < rowStride; j++) {
        let sum = 0;
        for (let k = 0; k < taps; k++) sum += rowWeights[tapStart + k] * narrow[base + k * rowStride + j];
        output[y * rowStride + j] = toUint8(sum);
      }
    }
    return output;
  }
}
