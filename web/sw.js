// The page's service worker: after one visit online the page works with no network.
//
// Online, every request goes to the network as if there were no worker (an edited page or a re-export
// shows at once). Offline, everything comes from the offline copy: one cache holding one version of the
// whole page, its own files (PAGE_FILES: TF.js and its WASM binaries included), the manifest and the
// models. A version is named by content: the SHA-256s of the page files as served and of the manifest,
// which pins every model file's SHA-256. So an update is noticed even when sw.js's own bytes stay the
// same (a TF.js upgrade, a re-export): the page asks the worker to check (registerServiceWorker in
// app.js) on every load, besides the check at install.
//
// A check downloads the page files and the manifest; unless that version is cached whole, it fills the
// version's cache: the page files, the default model, then the other models, each model file checked
// against the manifest's SHA-256, the cache's manifest listing the models it holds so far. With its
// default model in, a version is usable offline: the worker installs then, and a first visit's version
// becomes current at once. Once its last model is in, the version becomes current (one write) and every
// other cache goes: offline, the page never mixes two versions' files. Checks run one at a time (a Web
// Lock, shared by an old and a new worker), so two never race to make their version current.
//
// The offline side reads caches only through caches.match(..., { cacheName }), never caches.open():
// open() creates a cache it does not find, so a read racing a deletion would bring an old version back.

const CACHE_PREFIX = "cat-dog-"; // every cache this page makes (older workers' too)
const VERSION_PREFIX = "cat-dog-offline-";
// One entry: the name of the version cache the page runs offline.
const CURRENT_CACHE = "cat-dog-current";
const MANIFEST = "models/manifest.json";
// Everything the page loads besides the models (index.html's scripts, app.js's imports, TF.js's WASM
// binaries: it picks one at run time). tests/web/test_offline.py checks that this is every file that
// serve.py serves outside models/.
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
  "evidence.js",
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
  "vendor/resize.wasm",
];

const scope = new URL(self.registration.scope);
const pageUrl = (path) => new URL(path, scope).href;
const CURRENT_KEY = pageUrl("current-offline-copy");

async function sha256(buffer) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", buffer));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A file as the server has it now (revalidated, never the HTTP cache's copy unchecked). */
async function download(url) {
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return { bytes: await response.arrayBuffer(), headers: response.headers };
}

// The headers go with the bytes: offline, the page must stay cross-origin isolated (threaded WASM).
const asResponse = (file) => new Response(file.bytes, { headers: file.headers });

async function currentVersion() {
  const current = await caches.match(CURRENT_KEY, { cacheName: CURRENT_CACHE });
  return current ? current.text() : null;
}

async function makeCurrent(name) {
  await (await caches.open(CURRENT_CACHE)).put(CURRENT_KEY, new Response(name));
}

/** Bring the offline copy to what is served now; `ready()` once the page works offline. */
function update(ready = () => {}) {
  if (!navigator.locks) return fillVersion(ready); // Safari before 15.4: an old and a new worker may race
  return navigator.locks.request("cat-dog-offline-copy", () => fillVersion(ready));
}

async function fillVersion(ready) {
  const pageFiles = await Promise.all(PAGE_FILES.map((path) => download(pageUrl(path))));
  const manifestFile = await download(pageUrl(MANIFEST));
  const pageHashes = await Promise.all(pageFiles.map((file) => sha256(file.bytes)));
  const pageVersion = await sha256(new TextEncoder().encode(pageHashes.join("\n")));
  const name = `${VERSION_PREFIX}${pageVersion.slice(0, 16)}-${(await sha256(manifestFile.bytes)).slice(0, 16)}`;

  const manifest = JSON.parse(new TextDecoder().decode(manifestFile.bytes));
  if (!manifest.models?.length) throw new Error("the manifest lists no model"); // the page would not run
  const cache = await caches.open(name);
  const stored = await cache.match(pageUrl(MANIFEST));
  // Models an earlier check already cached (it failed, or its worker was stopped), or every model.
  const cached = new Set(stored ? (await stored.json()).models.map((model) => model.id) : []);
  if (cached.size < manifest.models.length) {
    await Promise.all(PAGE_FILES.map((path, i) => cache.put(pageUrl(path), asResponse(pageFiles[i]))));
    const isDefault = (model) => model.id === manifest.default_model;
    const models = [...manifest.models.filter(isDefault), ...manifest.models.filter((m) => !isDefault(m))];
    for (const model of models.filter((m) => !cached.has(m.id))) {
      await cacheModel(cache, model);
      cached.add(model.id);
      // What the page reads offline: the models it can load (it offers no other), the whole manifest last.
      const whole = cached.size === manifest.models.length;
      const listed = { ...manifest, models: manifest.models.filter((m) => cached.has(m.id)) };
      const bytes = whole ? manifestFile.bytes : new TextEncoder().encode(JSON.stringify(listed));
      const headers = new Headers(manifestFile.headers);
      headers.delete("Content-Length"); // the whole manifest's
      await cache.put(pageUrl(MANIFEST), asResponse({ bytes, headers }));
      const current = await currentVersion();
      if (current === null || !(await caches.has(current))) await makeCurrent(name); // a first visit
      ready();
    }
  }
  await makeCurrent(name);
  for (const key of await caches.keys()) {
    if (key.startsWith(CACHE_PREFIX) && key !== name && key !== CURRENT_CACHE) await caches.delete(key);
  }
  ready();
}

async function cacheModel(cache, model) {
  const folder = model.model_url.slice(0, model.model_url.lastIndexOf("/") + 1);
  for (const [file, { sha256: expected }] of Object.entries(model.files)) {
    const url = pageUrl(`models/${folder}${file}`);
    // A file an older version holds already (the manifest's SHA-256 says so) is not downloaded again.
    const old = await caches.match(url);
    const oldBytes = old && (await old.clone().arrayBuffer());
    if (oldBytes && (await sha256(oldBytes)) === expected) {
      await cache.put(url, asResponse({ bytes: oldBytes, headers: old.headers }));
      continue;
    }
    const fresh = await download(url);
    if ((await sha256(fresh.bytes)) !== expected) {
      throw new Error(`${url} is not the file the manifest lists (being re-exported?)`);
    }
    await cache.put(url, asResponse(fresh));
  }
}

/** Offline: the file from the current version, or an error (nothing is made up). */
async function offline(request) {
  const name = await currentVersion();
  const response = name && (await caches.match(request, { cacheName: name, ignoreSearch: true }));
  return response || Response.error();
}

self.addEventListener("install", (event) => {
  // Installed as soon as the page works offline; the other models keep coming in the same check.
  const usable = new Promise((resolve, reject) => {
    update(resolve).catch((error) => {
      console.warn("Offline copy not updated:", error.message);
      reject(error); // nothing usable yet: this worker is dropped, and the next visit tries again
    });
  });
  event.waitUntil(usable.then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// The page's "update" message on every load: also what keeps this worker alive while a check runs.
self.addEventListener("message", (event) => {
  if (event.data !== "update") return;
  event.waitUntil(update().catch((error) => console.warn("Offline copy not updated:", error.message)));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  event.respondWith(fetch(event.request).catch(() => offline(event.request)));
});
