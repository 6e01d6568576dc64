// The page's service worker: after the first visit the page works with no network.
//
// Online, every request goes to the network as if there were no worker (a re-export shows at once), and
// the worker keeps the offline copy: the page's own files as they come, and the models per export. An
// export is named by the SHA-256 of its manifest: each new manifest fills its own cache with every model
// file it lists, each checked against the manifest's SHA-256, the manifest last; then older exports'
// caches go. Offline, the page, TF.js, its WASM binaries, the manifest and the models come from there,
// always one complete export.

const PAGE_CACHE = "cat-dog-page";
const EXPORT_CACHE_PREFIX = "cat-dog-models-";
const MANIFEST = "models/manifest.json";
// Everything the page loads besides the models (index.html's scripts, app.js's imports, TF.js's WASM
// binaries: it picks one at run time).
const PAGE_FILES = [
  "./",
  "index.html",
  "style.css",
  "manifest.webmanifest",
  "icons/icon-192.png",
  "icons/icon-512.png",
  "app.js",
  "camera.js",
  "classifier.js",
  "frames.js",
  "loop.js",
  "preprocess.js",
  "settings.js",
  "view.js",
  "vendor/tf-core.min.js",
  "vendor/tf-converter.min.js",
  "vendor/tf-backend-cpu.min.js",
  "vendor/tf-backend-webgl.min.js",
  "vendor/tf-backend-wasm.min.js",
  "vendor/tfjs-backend-wasm.wasm",
  "vendor/tfjs-backend-wasm-simd.wasm",
  "vendor/tfjs-backend-wasm-threaded-simd.wasm",
];

const scope = new URL(self.registration.scope);
const pageUrl = (path) => new URL(path, scope).href;
const PAGE_URLS = new Set(PAGE_FILES.map(pageUrl));

async function sha256(buffer) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", buffer));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

// One refresh per export at a time, whoever asks (install, or the page fetching the manifest).
const refreshing = new Map();

/** Make sure the export `manifestBytes` describes is cached whole; then drop other exports. */
async function cacheExport(manifestBytes) {
  const name = EXPORT_CACHE_PREFIX + (await sha256(manifestBytes)).slice(0, 16);
  if (!refreshing.has(name)) {
    refreshing.set(name, fillExportCache(name, manifestBytes).finally(() => refreshing.delete(name)));
  }
  return refreshing.get(name);
}

async function fillExportCache(name, manifestBytes) {
  const cache = await caches.open(name);
  if (!(await cache.match(pageUrl(MANIFEST)))) {
    const manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
    try {
      for (const model of manifest.models) {
        const folder = model.model_url.slice(0, model.model_url.lastIndexOf("/") + 1);
        for (const [file, { sha256: expected }] of Object.entries(model.files)) {
          const url = pageUrl(`models/${folder}${file}`);
          const response = await fetch(url, { cache: "no-cache" });
          const bytes = await response.arrayBuffer();
          if (!response.ok || (await sha256(bytes)) !== expected) {
            throw new Error(`${url} is not the file the manifest lists (being re-exported?)`);
          }
          await cache.put(url, new Response(bytes, { headers: response.headers }));
        }
      }
    } catch (error) {
      await caches.delete(name); // never half an export; the previous one stays
      throw error;
    }
    // Last: a cache with its manifest is a complete export.
    await cache.put(pageUrl(MANIFEST), new Response(manifestBytes, { headers: { "Content-Type": "application/json" } }));
  }
  for (const key of await caches.keys()) {
    if (key.startsWith(EXPORT_CACHE_PREFIX) && key !== name) await caches.delete(key);
  }
}

/** The cached complete export (the newest, should an older one remain). */
async function exportCache() {
  const names = (await caches.keys()).filter((key) => key.startsWith(EXPORT_CACHE_PREFIX));
  for (const name of names.reverse()) {
    const cache = await caches.open(name);
    if (await cache.match(pageUrl(MANIFEST))) return cache;
  }
  return null;
}

async function offline(request, cache) {
  const response = await cache?.match(request, { ignoreSearch: true });
  return response ?? Response.error();
}

async function fromNetwork(event) {
  const { request } = event;
  const path = new URL(request.url).pathname.slice(scope.pathname.length);
  let response;
  try {
    response = await fetch(request);
  } catch {
    // Offline: the page's files, the manifest and the models of the one cached export.
    const cache = path.startsWith("models/") ? await exportCache() : await caches.open(PAGE_CACHE);
    return offline(request, cache);
  }
  if (response.ok && path === MANIFEST) {
    const bytes = await response.clone().arrayBuffer();
    event.waitUntil(cacheExport(bytes).catch((error) => console.warn("Offline copy not updated:", error.message)));
  } else if (response.ok && PAGE_URLS.has(pageUrl(path))) {
    const copy = response.clone();
    event.waitUntil(caches.open(PAGE_CACHE).then((cache) => cache.put(pageUrl(path), copy)));
  }
  return response;
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(PAGE_CACHE);
      await cache.addAll(PAGE_FILES.map((path) => new Request(pageUrl(path), { cache: "no-cache" })));
      try {
        const manifest = await fetch(pageUrl(MANIFEST), { cache: "no-cache" });
        if (manifest.ok) await cacheExport(await manifest.arrayBuffer());
      } catch (error) {
        console.warn("Models not cached yet:", error.message); // the page's own fetch retries
      }
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  event.respondWith(fromNetwork(event));
});
