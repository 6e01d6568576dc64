// Copies TF.js and the WASM backend's binaries from node_modules into vendor/ (git-ignored), so the page loads
// everything from its own origin and works offline. Run by `npm run build` after `npm ci`.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const vendor = join(dirname(fileURLToPath(import.meta.url)), "..", "vendor");
const dist = (pkg) => join(dirname(require.resolve(`@tensorflow/${pkg}/package.json`)), "dist");

// Classic scripts, loaded in this order: core defines the global `tf`, the others extend it.
const files = [
  [dist("tfjs-core"), "tf-core.min.js"],
  [dist("tfjs-converter"), "tf-converter.min.js"],
  [dist("tfjs-backend-cpu"), "tf-backend-cpu.min.js"],
  [dist("tfjs-backend-webgl"), "tf-backend-webgl.min.js"],
  [dist("tfjs-backend-wasm"), "tf-backend-wasm.min.js"],
  // The WASM backend picks one of these at run time: plain, SIMD, or SIMD + threads (cross-origin isolated).
  [dist("tfjs-backend-wasm"), "tfjs-backend-wasm.wasm"],
  [dist("tfjs-backend-wasm"), "tfjs-backend-wasm-simd.wasm"],
  [dist("tfjs-backend-wasm"), "tfjs-backend-wasm-threaded-simd.wasm"],
];

rmSync(vendor, { recursive: true, force: true });
mkdirSync(vendor, { recursive: true });
for (const [dir, name] of files) {
  copyFileSync(join(dir, name), join(vendor, name));
  console.log(`vendor/${name}`);
}
