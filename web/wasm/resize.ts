// Training's resize (cv2.resize with INTER_AREA on 8-bit pixels, after cv2.cvtColor to gray for gray
// models) as OpenCV computes it, in WebAssembly with SIMD: the same float32 operations in the same
// order, so the same bits, in a fraction of plain JS's time.

// cv2.COLOR_RGB2GRAY on uint8, in the OpenCV training uses: (9798 R + 19235 G + 3735 B + 2^14) >> 15.
const GRAY_R: i32 = 9798;
const GRAY_G: i32 = 19235;
const GRAY_B: i32 = 3735;
const GRAY_SHIFT: i32 = 15;
const COEF_SCALE: f32 = 2048; // INTER_RESIZE_COEF_SCALE: the linear path's fixed-point weights

const AREA: i32 = 0; // both sides shrink: OpenCV's true area resize, in float32
const AREA_FAST: i32 = 1; // both sides shrink by whole numbers: integer sums
const LINEAR: i32 = 2; // a side grows: OpenCV's bilinear emulation of area, in fixed point

let sourceWidth = 0;
let sourceHeight = 0;
let width = 0;
let height = 0;
let channels = 0;
let mode = AREA;
let pixels = new StaticArray<u8>(0); // the source, RGBA
let output = new StaticArray<f32>(0); // height x width x channels, uint8 values
let gray = new StaticArray<u8>(0);
// Area tables (computeResizeAreaTab): entry k adds source index `from` times `alpha` to target `to`.
let xFrom = new StaticArray<i32>(0);
let xTo = new StaticArray<i32>(0);
let xAlpha = new StaticArray<f32>(0);
let xCount = 0;
let yFrom = new StaticArray<i32>(0);
let yTo = new StaticArray<i32>(0);
let yAlpha = new StaticArray<f32>(0);
let yCount = 0;
// One source row resized across, and the output row being summed: four lanes (RGBA) per pixel.
let row = new StaticArray<f32>(0);
let sum = new StaticArray<f32>(0);
// The linear path: per target column and row, the first source index and two fixed-point weights.
let xOffset = new StaticArray<i32>(0);
let xWeights = new StaticArray<i32>(0);
let xLimit = 0;
let yOffset = new StaticArray<i32>(0);
let yWeights = new StaticArray<i32>(0);
let rowA = new StaticArray<i32>(0);
let rowB = new StaticArray<i32>(0);

/** Make the buffers and tables for a `sw` x `sh` RGBA source and an `h` x `w` x `c` output (c: 1 gray, 3 RGB). */
export function fit(sw: i32, sh: i32, w: i32, h: i32, c: i32): void {
  sourceWidth = sw;
  sourceHeight = sh;
  width = w;
  height = h;
  channels = c;
  pixels = new StaticArray<u8>(sw * sh * 4);
  output = new StaticArray<f32>(w * h * c);
  gray = new StaticArray<u8>(c == 1 ? sw * sh : 0);
  const inverseX = <f64>w / <f64>sw;
  const inverseY = <f64>h / <f64>sh;
  const scaleX = 1.0 / inverseX;
  const scaleY = 1.0 / inverseY;
  if (scaleX >= 1 && scaleY >= 1) {
    const wholeX = <i32>Math.round(scaleX);
    const wholeY = <i32>Math.round(scaleY);
    if (Math.abs(scaleX - wholeX) < f64.EPSILON && Math.abs(scaleY - wholeY) < f64.EPSILON) {
      mode = AREA_FAST;
      return;
    }
    mode = AREA;
    xFrom = new StaticArray<i32>(sw * 2);
    xTo = new StaticArray<i32>(sw * 2);
    xAlpha = new StaticArray<f32>(sw * 2);
    xCount = areaTable(sw, w, scaleX, xFrom, xTo, xAlpha);
    yFrom = new StaticArray<i32>(sh * 2);
    yTo = new StaticArray<i32>(sh * 2);
    yAlpha = new StaticArray<f32>(sh * 2);
    yCount = areaTable(sh, h, scaleY, yFrom, yTo, yAlpha);
    row = new StaticArray<f32>(w * 4);
    sum = new StaticArray<f32>(w * 4);
    return;
  }
  mode = LINEAR;
  xOffset = new StaticArray<i32>(w);
  xWeights = new StaticArray<i32>(w * 2);
  xLimit = w;
  for (let x = 0; x < w; x++) {
    let source = <i32>Math.floor(<f64>x * scaleX);
    let fraction = linearFraction(x, source, inverseX);
    if (source + 1 >= sw) {
      xLimit = min(xLimit, x);
      if (source >= sw - 1) {
        fraction = 0;
        source = sw - 1;
      }
    }
    xOffset[x] = source;
    xWeights[x * 2] = fixedPoint(1 - fraction);
    xWeights[x * 2 + 1] = fixedPoint(fraction);
  }
  yOffset = new StaticArray<i32>(h);
  yWeights = new StaticArray<i32>(h * 2);
  for (let y = 0; y < h; y++) {
    const source = <i32>Math.floor(<f64>y * scaleY);
    const fraction = linearFraction(y, source, inverseY);
    yOffset[y] = source;
    yWeights[y * 2] = fixedPoint(1 - fraction);
    yWeights[y * 2 + 1] = fixedPoint(fraction);
  }
  rowA = new StaticArray<i32>(w * 4);
  rowB = new StaticArray<i32>(w * 4);
}

/** Where `fit`'s source pixels go (RGBA bytes), and where `run` leaves the output (float32). */
export function input(): usize {
  return changetype<usize>(pixels);
}

export function result(): usize {
  return changetype<usize>(output);
}

/** The output, from the pixels at `input()`. */
export function run(): void {
  if (channels == 1) toGray();
  if (mode == AREA) area();
  else if (mode == AREA_FAST) areaFast();
  else linear();
}

// computeResizeAreaTab: the source cells each target cell covers, partly covered ones pro rata.
function areaTable(
  sourceSize: i32,
  size: i32,
  scale: f64,
  from: StaticArray<i32>,
  to: StaticArray<i32>,
  alpha: StaticArray<f32>,
): i32 {
  let k = 0;
  for (let target = 0; target < size; target++) {
    const start = <f64>target * scale;
    const end = start + scale;
    const cell = Math.min(scale, <f64>sourceSize - start);
    let first = <i32>Math.ceil(start);
    let last = <i32>Math.floor(end);
    last = min(last, sourceSize - 1);
    first = min(first, last);
    if (<f64>first - start > 1e-3) {
      to[k] = target;
      from[k] = first - 1;
      alpha[k++] = <f32>((<f64>first - start) / cell);
    }
    for (let source = first; source < last; source++) {
      to[k] = target;
      from[k] = source;
      alpha[k++] = <f32>(1.0 / cell);
    }
    if (end - <f64>last > 1e-3) {
      to[k] = target;
      from[k] = last;
      alpha[k++] = <f32>(Math.min(Math.min(end - <f64>last, 1.0), cell) / cell);
    }
  }
  return k;
}

function linearFraction(target: i32, source: i32, inverse: f64): f32 {
  let fraction = <f32>(<f64>(target + 1) - <f64>(source + 1) * inverse);
  return fraction <= 0 ? 0 : fraction - Mathf.floor(fraction);
}

// saturate_cast<short>(weight * INTER_RESIZE_COEF_SCALE): rounded to nearest, ties to even.
function fixedPoint(weight: f32): i32 {
  return <i32>nearest<f32>(weight * COEF_SCALE);
}

// RGBA → gray, four pixels at a time: each pixel's (R, G) and (B, A) dot products, added.
function toGray(): void {
  const source = changetype<usize>(pixels);
  const target = changetype<usize>(gray);
  const count = sourceWidth * sourceHeight;
  const weights = i16x8(<i16>GRAY_R, <i16>GRAY_G, <i16>GRAY_B, 0, <i16>GRAY_R, <i16>GRAY_G, <i16>GRAY_B, 0);
  const half = i32x4.splat(1 << (GRAY_SHIFT - 1));
  let p = 0;
  for (; p + 4 <= count; p += 4) {
    const bytes = v128.load(source + (<usize>p << 2));
    const low = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(bytes), weights);
    const high = i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(bytes), weights);
    const rg = v128.shuffle<i32>(low, high, 0, 2, 4, 6);
    const ba = v128.shuffle<i32>(low, high, 1, 3, 5, 7);
    const value = i32x4.shr_s(i32x4.add(i32x4.add(rg, ba), half), GRAY_SHIFT);
    store<u8>(target + p, <u8>i32x4.extract_lane(value, 0));
    store<u8>(target + p + 1, <u8>i32x4.extract_lane(value, 1));
    store<u8>(target + p + 2, <u8>i32x4.extract_lane(value, 2));
    store<u8>(target + p + 3, <u8>i32x4.extract_lane(value, 3));
  }
  for (; p < count; p++) {
    const at = source + (<usize>p << 2);
    const value = GRAY_R * load<u8>(at) + GRAY_G * load<u8>(at, 1) + GRAY_B * load<u8>(at, 2);
    store<u8>(target + p, <u8>((value + (1 << (GRAY_SHIFT - 1))) >> GRAY_SHIFT));
  }
}

// A source pixel's channels as float lanes: RGBA, or gray in lane 0.
@inline
function pixel(y: i32, x: i32): v128 {
  if (channels == 1) {
    return f32x4.convert_i32x4_u(i32x4.splat(load<u8>(changetype<usize>(gray) + <usize>(y * sourceWidth + x))));
  }
  const bytes = v128.load32_zero(changetype<usize>(pixels) + (<usize>(y * sourceWidth + x) << 2));
  return f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(bytes)));
}

// ResizeArea_Invoker: each source row resized across into `row` (buf), then weighted into `sum`; a
// target row is stored when the next one starts. Lanes are channels: each lane's operations are
// OpenCV's for that channel, in its order.
function area(): void {
  const rowAt = changetype<usize>(row);
  const sumAt = changetype<usize>(sum);
  const lanes = <usize>width << 4;
  for (let at: usize = 0; at < lanes; at += 16) v128.store(sumAt + at, f32x4.splat(0));
  let previousTarget = yTo[0];
  let previousSource = -1;
  for (let j = 0; j < yCount; j++) {
    const source = unchecked(yFrom[j]);
    if (source != previousSource) {
      // A source row on two target rows' borders comes twice in a row: resized across once. Each
      // target's terms are consecutive in the table: summed in a register, in the table's order.
      for (let x = 0, k = 0; x < width; x++) {
        let total = f32x4.splat(0);
        for (; k < xCount && unchecked(xTo[k]) == x; k++) {
          total = f32x4.add(total, f32x4.mul(pixel(source, unchecked(xFrom[k])), f32x4.splat(unchecked(xAlpha[k]))));
        }
        v128.store(rowAt + (<usize>x << 4), total);
      }
      previousSource = source;
    }
    const beta = f32x4.splat(unchecked(yAlpha[j]));
    const target = unchecked(yTo[j]);
    if (target != previousTarget) {
      storeRow(previousTarget);
      for (let at: usize = 0; at < lanes; at += 16) {
        v128.store(sumAt + at, f32x4.mul(beta, v128.load(rowAt + at)));
      }
      previousTarget = target;
    } else {
      for (let at: usize = 0; at < lanes; at += 16) {
        v128.store(sumAt + at, f32x4.add(v128.load(sumAt + at), f32x4.mul(beta, v128.load(rowAt + at))));
      }
    }
  }
  storeRow(previousTarget);
}

// saturate_cast<uchar>(float): rounded to nearest, ties to even, then clamped.
function storeRow(y: i32): void {
  const sumAt = changetype<usize>(sum);
  const outAt = changetype<usize>(output) + (<usize>(y * width * channels) << 2);
  const low = f32x4.splat(0);
  const high = f32x4.splat(255);
  for (let x = 0; x < width; x++) {
    const value = f32x4.min(f32x4.max(f32x4.nearest(v128.load(sumAt + (<usize>x << 4))), low), high);
    const to = outAt + (<usize>(x * channels) << 2);
    store<f32>(to, f32x4.extract_lane(value, 0));
    if (channels == 3) {
      store<f32>(to, f32x4.extract_lane(value, 1), 4);
      store<f32>(to, f32x4.extract_lane(value, 2), 8);
    }
  }
}

// resizeAreaFast_: whole-number scales average whole blocks in integers.
function areaFast(): void {
  const scaleX = sourceWidth / width;
  const scaleY = sourceHeight / height;
  const count = scaleX * scaleY;
  const inverse: f32 = 1.0 / <f32>count;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        let total = 0;
        for (let dy = 0; dy < scaleY; dy++) {
          for (let dx = 0; dx < scaleX; dx++) total += channel(y * scaleY + dy, x * scaleX + dx, c);
        }
        // 2x2 blocks: a rounding shift; others: the sum times 1/area in float32.
        const value = count == 4 ? <f32>((total + 2) >> 2) : nearest<f32>(<f32>total * inverse);
        output[(y * width + x) * channels + c] = Mathf.min(Mathf.max(value, 0), 255);
      }
    }
  }
}

@inline
function channel(y: i32, x: i32, c: i32): i32 {
  if (channels == 1) return <i32>gray[y * sourceWidth + x];
  return <i32>pixels[((y * sourceWidth + x) << 2) + c];
}

// HResizeLinear + VResizeLinear in fixed point (11-bit weights), as resizeGeneric_ runs them: the
// vertical step as its vector code (VResizeLinearVec_32s8u) does it, on every value of a row.
function linear(): void {
  for (let y = 0; y < height; y++) {
    const first = yOffset[y];
    linearRow(min(first, sourceHeight - 1), rowA);
    linearRow(min(first + 1, sourceHeight - 1), rowB);
    const b0 = yWeights[y * 2];
    const b1 = yWeights[y * 2 + 1];
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const at = x * 4 + c;
        const value = (mulHigh(rowA[at] >> 4, b0) + mulHigh(rowB[at] >> 4, b1) + 2) >> 2;
        output[(y * width + x) * channels + c] = <f32>min(max(value, 0), 255);
      }
    }
  }
}

// v_mul_hi on 16-bit lanes: the high half of the 32-bit product.
@inline
function mulHigh(a: i32, b: i32): i32 {
  return (a * b) >> 16;
}

function linearRow(y: i32, into: StaticArray<i32>): void {
  for (let x = 0; x < width; x++) {
    const source = xOffset[x];
    for (let c = 0; c < channels; c++) {
      into[x * 4 + c] =
        x < xLimit
          ? channel(y, source, c) * xWeights[x * 2] + channel(y, source + 1, c) * xWeights[x * 2 + 1]
          : channel(y, source, c) * 2048;
    }
  }
}
