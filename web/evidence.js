// The camera's answer over its last frames, not one frame's.
//
// One frame's answer can change with a shadow, a turned head or the camera's noise; a dog that drifts in
// and out of "No cat or dog" from frame to frame is worse than either answer. So the page shows an answer
// once it holds for most (AGREEMENT) of the frames classified in the last WINDOW_MS, and "not sure" while
// they are mixed: the evidence is then mixed, and saying so is the honest answer. The first frame after a
// reset (another camera, model or photo) is shown as it is: there is no other evidence yet. A photo is one
// frame: the page shows its answer as it is.
//
// A slow device classifies fewer frames in that time: at 5 frames/s the window holds two or three, and a
// run of two odd frames would be an answer. So the evidence is never fewer than MIN_FRAMES frames while
// they are at most MAX_AGE_MS old: the window stretches on a slow device (to 1 s at 5 frames/s) and is
// the same as before from 10 frames/s up; after a longer pause the old frames are gone.

export const WINDOW_MS = 500;
export const AGREEMENT = 0.7;
export const MIN_FRAMES = 5;
export const MAX_AGE_MS = 1000;
const LABELS = ["cat", "dog", "unsure", "neither"];
const CAPACITY = 64; // frames kept: more than WINDOW_MS holds at the loop's fastest (one per 20 ms)

export class SteadyAnswer {
  constructor(windowMs = WINDOW_MS, agreement = AGREEMENT, minFrames = MIN_FRAMES, maxAgeMs = MAX_AGE_MS) {
    this.windowMs = windowMs;
    this.agreement = agreement;
    this.minFrames = minFrames;
    this.maxAgeMs = maxAgeMs;
    // A ring of the window's frames; made once: a frame allocates nothing.
    this.times = new Float64Array(CAPACITY);
    this.labels = new Array(CAPACITY).fill(null);
    this.counts = { cat: 0, dog: 0, unsure: 0, neither: 0 };
    this.reset();
  }

  /** Forget the frames so far (another camera, model or photo: they were of something else). */
  reset() {
    this.first = 0;
    this.size = 0;
    for (const label of LABELS) this.counts[label] = 0;
  }

  /** The answer to show, after a frame classified at `time` (ms) answered `label`. */
  add(label, time) {
    while (this.size > 0 && (this.expired(time) || this.size === CAPACITY)) {
      this.counts[this.labels[this.first]] -= 1;
      this.first = (this.first + 1) % CAPACITY;
      this.size -= 1;
    }
    const at = (this.first + this.size) % CAPACITY;
    this.times[at] = time;
    this.labels[at] = label;
    this.counts[label] += 1;
    this.size += 1;
    for (const candidate of LABELS) {
      if (this.counts[candidate] >= this.agreement * this.size) return candidate;
    }
    return "unsure";
  }

  /** Whether the oldest frame kept no longer counts at `time`. */
  expired(time) {
    const age = time - this.times[this.first];
    return age > this.maxAgeMs || (age > this.windowMs && this.size >= this.minFrames);
  }
}
