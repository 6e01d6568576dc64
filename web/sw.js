// The page's service worker: after the first visit the page works with no network.
//
// Online, every request goes to the network as if there were no worker (a re-export shows at once), and
// the worker keeps the offline copy: the page's own files as they come, and the models per export. An
// export is named by the SHA-256 of its manifest: each new manifest fills its own cache with every model
// file it lists, each checked against the manifest's SHA-256; once that cache is whole, the manifest is
// stored beside the page's files as the current export, and older exports' caches go. Offline, the page,
// TF.js, its WASM binaries, the manifest and the models come from there: always the current export, whole.
//
// The offline side reads caches only through caches.match(..., { cacheName }), never caches.open():
// open() creates a cache it does not find, so a read racing a deletion would bring an old export back.

const PAGE_CACHE = "cat-dog-page";
const EXPORT_CACHE_PREFIX = "cat-dog-models-";
const MANIFEST = "models/manifest.json";
// On the current export's manifest in PAGE_CACHE: the cache that holds its models.
const EXPORT_CACHE_HEADER = "X-Cat-Dog-Export-Cache";
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
// The export of the manifest seen last: only it becomes current, should an older one finish later.
let newestExport = null;

/** Make sure the export `manifestBytes` describes is cached whole and current; then drop the others. */
async function cacheExport(manifestBytes) {
  const name = EXPORT_CACHE_PREFIX + (await sha256(manifestBytes)).slice(0, 16);
  newestExport = name;
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
    // Last: a cache with its manifest is a complete export (a later visit need not fetch it again).
    await cache.put(pageUrl(MANIFEST), manifestResponse(manifestBytes, name));
  }
  if (name !== newestExport) return; // a newer manifest came meanwhile: it becomes current, not this
  await (await caches.open(PAGE_CACHE)).put(pageUrl(MANIFEST), manifestResponse(manifestBytes, name));
  for (const key of await caches.keys()) {
    if (key.startsWith(EXPORT_CACHE_PREFIX) && key !== name) await caches.delete(key);
  }
}

function manifestResponse(bytes, exportCacheName) {
  const headers = { "Content-Type": "application/json", [EXPORT_CACHE_HEADER]: exportCacheName };
  return new Response(bytes, { headers });
}

/** Offline: a page file, the current export's manifest, or one of its model files. */
async function offline(request, path) {
  const options = { cacheName: PAGE_CACHE, ignoreSearch: true };
  if (path.startsWith("models/") && path !== MANIFEST) {
    const manifest = await caches.match(pageUrl(MANIFEST), { cacheName: PAGE_CACHE });
    options.cacheName = manifest?.headers.get(EXPORT_CACHE_HEADER);
  }
  const response = options.cacheName ? await caches.match(request, options) : undefined;
  return response ?? Response.error();
}

async function fromNetwork(event) {
  const { request } = event;
  const path = new URL(request.url).pathname.slice(scope.pathname.length);
  let response;
  try {
    response = await fetch(request);
  } catch {
    return offline(request, path);
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
