// The camera: opening it, what to say when it cannot open, and the list of cameras.

export function cameraAvailable() {
  return Boolean(navigator.mediaDevices?.getUserMedia);
}

/** The stream of camera `deviceId`, or of the back camera where there is one (a phone pointed at a pet). */
export function openCamera(deviceId) {
  const size = { width: { ideal: 640 }, height: { ideal: 480 } };
  const video = deviceId ? { deviceId: { exact: deviceId }, ...size } : { facingMode: { ideal: "environment" }, ...size };
  return navigator.mediaDevices.getUserMedia({ video, audio: false });
}

export function cameraErrorText(error) {
  switch (error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera permission was denied. Allow the camera for this site, or classify a photo: drop it here or use “Photo…”.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found. Classify a photo instead: drop it here or use “Photo…”.";
    case "NotReadableError":
      return "The camera is in use by another application. Close it and press “Resume camera”, or classify a photo.";
    default:
      return `The camera could not start (${error.name}: ${error.message}). Classify a photo instead.`;
  }
}

export const NO_CAMERA_ACCESS =
  "This page has no camera access here: browsers allow cameras only on https:// or http://localhost. " +
  "Classify a photo instead: drop it here or use “Photo…”.";

/** Video inputs as `{ label, deviceId }`; labels are only readable once the camera was allowed. */
export async function listCameras() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices
    .filter((device) => device.kind === "videoinput")
    .map((device, i) => ({ label: device.label || `Camera ${i + 1}`, deviceId: device.deviceId }));
}
