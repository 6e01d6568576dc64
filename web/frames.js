// The pixels the page classifies, as RGBA bytes: camera frames into one reused buffer, photos upright.

/** Draw an image source on a canvas at `width` x `height`, on white (as training composites), and read it back. */
export function drawPixels(source, width, height, canvas) {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.fillStyle = "#fff";
  context.fillRect(0, 0, width, height);
  context.drawImage(source, 0, 0, width, height);
  return context.getImageData(0, 0, width, height).data;
}

/**
 * A photo file's pixels, upright as its EXIF orientation says (phones store portraits sideways) and
 * without colour-profile conversion (what training's decoder reads).
 */
export async function photoPixels(file) {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", imageOrientation: "from-image" });
  try {
    const { width, height } = bitmap;
    return { data: drawPixels(bitmap, width, height, document.createElement("canvas")), width, height };
  } finally {
    bitmap.close();
  }
}

/**
 * Reads a playing <video>'s current frame into one buffer it keeps: VideoFrame.copyTo converts the camera's
 * YUV to RGBA in place, at the frame's own size. A frame of another size (a phone turned, a camera switched,
 * new constraints) re-sizes the buffer once, and the next frames reuse it. A frame copyTo cannot give as
 * shown (rotated, or scaled to another aspect ratio) or cannot read (no pixel format) is drawn on a canvas
 * instead, that frame only: the 2D canvas can only read pixels back into a new ImageData, so that path
 * allocates one per frame; so does every frame in a browser without VideoFrame, or whose copyTo failed.
 */
export class FrameReader {
  constructor() {
    this.buffer = null;
    this.canvas = null;
    this.width = 0;
    this.height = 0;
    this.drawn = 0; // frames read through the canvas
    this.fallbackReason = null;
    this.method = typeof VideoFrame === "function" ? "VideoFrame.copyTo" : "canvas";
  }

  /** The frame's RGBA bytes (reused by the next call); its size is in `width` and `height`. */
  async read(video) {
    if (this.method === "VideoFrame.copyTo" && (await this.copyFrame(video))) return this.buffer;
    this.width = video.videoWidth;
    this.height = video.videoHeight;
    this.drawn += 1;
    this.canvas ??= document.createElement("canvas");
    return drawPixels(video, this.width, this.height, this.canvas);
  }

  async copyFrame(video) {
    let frame;
    try {
      frame = new VideoFrame(video);
    } catch {
      return false; // no frame to take yet (the video is starting): draw this one
    }
    try {
      const { width, height } = frame.visibleRect;
      // Chromium scales a camera's frames for the page lazily: the frame keeps its pixels and says the size
      // to show them at. The same picture at the same aspect ratio is read at its own resolution (the
      // model's resize takes any size); rotated, or stretched by more than a pixel, it is not what the
      // <video> shows: draw it.
      if (frame.rotation || Math.abs(width * frame.displayHeight - height * frame.displayWidth) > height) {
        return false;
      }
      // Pixels copyTo cannot read (no format: every frame of Chromium's second fake camera, for one).
      if (frame.format === null) return false;
      this.width = width;
      this.height = height;
      if (this.buffer?.length !== width * height * 4) this.buffer = new Uint8Array(width * height * 4);
      await frame.copyTo(this.buffer, { format: "RGBA", colorSpace: "srgb" });
      return true;
    } catch (error) {
      this.method = "canvas"; // this browser (or camera) cannot: stop trying
      this.fallbackReason = error.message;
      return false;
    } finally {
      frame.close();
    }
  }
}
