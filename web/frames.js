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
 * Reads a playing <video>'s current frame into one buffer it keeps (VideoFrame.copyTo converts the
 * camera's YUV to RGBA in place). Where that is missing, a canvas reads it back, at the cost of a new
 * ImageData per frame.
 */
export class FrameReader {
  constructor() {
    this.buffer = null;
    this.canvas = null;
    this.width = 0;
    this.height = 0;
    this.fallbackReason = null;
    this.method = typeof VideoFrame === "function" ? "VideoFrame.copyTo" : "canvas";
  }

  /** The frame's RGBA bytes (reused by the next call); its size is in `width` and `height`. */
  async read(video) {
    this.width = video.videoWidth;
    this.height = video.videoHeight;
    if (this.method === "VideoFrame.copyTo" && (await this.copyFrame(video))) return this.buffer;
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
      // A frame stored rotated or with non-square pixels is not what the <video> shows: draw it instead.
      if (width !== this.width || height !== this.height || frame.rotation) throw new Error("frame is not as shown");
      const bytes = width * height * 4;
      if (this.buffer?.length !== bytes) this.buffer = new Uint8Array(bytes);
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
