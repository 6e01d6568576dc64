// The live loop: classify camera frames as they arrive, one at a time (a frame that arrives meanwhile is
// passed over, never queued), each frame at most once, at least `minIntervalMs` apart, none while the page
// is hidden. New frames are signalled by requestVideoFrameCallback; without it, a timer polls.

const LOG_SIZE = 256; // the last classified frames, for the tests and the benchmark

export class FrameLoop {
  /** `classifyFrame()` classifies the video's current frame; a rejection stops the loop and goes to `onError`. */
  constructor(video, classifyFrame, { minIntervalMs, onError }) {
    this.video = video;
    this.classifyFrame = classifyFrame;
    this.onError = onError;
    this.minIntervalMs = minIntervalMs;
    this.mode = "requestVideoFrameCallback" in HTMLVideoElement.prototype ? "video-frame" : "timer";
    this.running = false;
    this.busy = false;
    this.handle = null; // a pending requestVideoFrameCallback
    this.timer = null;
    this.current = null; // the running classification's promise (never rejects)
    this.lastFrame = -1; // the last classified frame's number (presentedFrames)
    this.lastStart = -Infinity;
    this.frames = 0;
    this.tooSoon = 0; // new frames passed over to keep the minimum interval
    this.skipped = 0; // frames never classified: shown while a classification ran, or too soon
    this.hiddenPauses = 0;
    this.log = {
      frame: new Float64Array(LOG_SIZE),
      start: new Float64Array(LOG_SIZE),
      end: new Float64Array(LOG_SIZE),
    };
    // Bound once: scheduling a frame allocates no closure.
    this.onVideoFrame = this.onVideoFrame.bind(this);
    this.onTimer = this.onTimer.bind(this);
    this.onVisibility = this.onVisibility.bind(this);
  }

  start() {
    if (this.running) return;
    this.running = true;
    document.addEventListener("visibilitychange", this.onVisibility);
    this.schedule();
  }

  /** The video shows a new stream: its frame numbers start again (else the loop waits for them to catch up). */
  newSource() {
    this.lastFrame = -1;
  }

  stop() {
    this.running = false;
    this.cancel();
    document.removeEventListener("visibilitychange", this.onVisibility);
  }

  cancel() {
    if (this.handle !== null) this.video.cancelVideoFrameCallback(this.handle);
    clearTimeout(this.timer);
    this.handle = null;
    this.timer = null;
  }

  schedule() {
    if (!this.running || this.busy || document.hidden || this.handle !== null || this.timer !== null) return;
    if (this.mode === "video-frame") this.handle = this.video.requestVideoFrameCallback(this.onVideoFrame);
    else this.timer = setTimeout(this.onTimer, this.minIntervalMs);
  }

  onVisibility() {
    if (!document.hidden) {
      this.schedule();
    } else if (this.running) {
      this.hiddenPauses += 1;
      this.cancel();
    }
  }

  onVideoFrame(_now, metadata) {
    this.handle = null;
    this.considerFrame(metadata.presentedFrames);
  }

  onTimer() {
    this.timer = null;
    // Without frame callbacks, the decoded-frame count tells a new frame where the browser keeps it.
    const decoded = this.video.getVideoPlaybackQuality?.().totalVideoFrames ?? 0;
    this.considerFrame(decoded > 0 ? decoded : this.lastFrame + 1);
  }

  considerFrame(frame) {
    if (!this.running || this.video.readyState < 2 || frame <= this.lastFrame) {
      this.schedule();
      return;
    }
    const now = performance.now();
    if (now - this.lastStart < this.minIntervalMs) {
      this.tooSoon += 1;
      this.schedule();
      return;
    }
    if (this.lastFrame >= 0) this.skipped += Math.max(0, frame - this.lastFrame - 1);
    this.current = this.run(frame, now);
  }

  /** Stop, and wait for a classification still running. */
  async stopped() {
    this.stop();
    await this.current;
  }

  async run(frame, start) {
    this.busy = true;
    this.lastFrame = frame;
    this.lastStart = start;
    try {
      await this.classifyFrame();
    } catch (error) {
      this.busy = false;
      this.stop();
      this.onError(error);
      return;
    }
    const at = this.frames % LOG_SIZE;
    this.log.frame[at] = frame;
    this.log.start[at] = start;
    this.log.end[at] = performance.now();
    this.frames += 1;
    this.busy = false;
    this.schedule();
  }

  /** The logged frames, oldest first, as plain arrays (for the debug hook). */
  recent() {
    const count = Math.min(this.frames, LOG_SIZE);
    const order = Array.from({ length: count }, (_, i) => (this.frames - count + i) % LOG_SIZE);
    return {
      frame: order.map((i) => this.log.frame[i]),
      start: order.map((i) => this.log.start[i]),
      end: order.map((i) => this.log.end[i]),
    };
  }
}
