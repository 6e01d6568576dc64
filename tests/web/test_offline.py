"""Offline after the first visit (web/sw.js), with the default model alone at first, an update (new
TF.js, page or export) replacing the whole offline copy at once, and installable (the web app
manifest): the server is really stopped, not emulated, and Chromium itself judges installability."""

import hashlib
import importlib.util
import json
import re
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.conftest import PROJECT_ROOT, SmallProject

from .conftest import CHROMIUM, CHROMIUM_ARGS, copy_page, serve
from .pages import TIMEOUT_MS, snapshot, upload, wait_for_frames, wait_until

# sw.js: one cache per version of the whole page (its files and models), and the name of the
# current one in a cache of its own
VERSION_PREFIX = "cat-dog-offline-"
CURRENT_CACHE = "cat-dog-current"
CURRENT_KEY = "current-offline-copy"
SW = PROJECT_ROOT / "web" / "sw.js"
B_TITLE = "Cat or dog? (B)"
# A WASM custom section ("version", holding "B"): appended, the binary still runs, with other bytes.
WASM_SECTION_B = b"\x00\x09\x07versionB"


def open_online(browser: Browser, url: str) -> Page:
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_function("() => window.catDogDebug !== undefined")
    return page


def reload_offline(page: Page) -> None:
    """Reload with the server stopped: nothing answers on its port any more."""
    page.reload()
    page.wait_for_function("() => window.catDogDebug !== undefined")


def current_version(page: Page) -> str | None:
    """The name of the cache the worker serves offline."""
    return page.evaluate(
        """async ([currentCache, currentKey]) => {
            const current = await caches.match(currentKey, { cacheName: currentCache });
            return current === undefined ? null : current.text();
        }""",
        [CURRENT_CACHE, CURRENT_KEY],
    )


def wait_until_offline_ready(page: Page, models: list[str], replacing: str | None = None) -> None:
    """The worker controls the page and serves offline one version (not `replacing`), the only one
    cached, whose manifest lists `models` (those it holds)."""
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    wait_until(
        page,
        """async ([currentCache, currentKey, models, replacing]) => {
            const current = await caches.match(currentKey, { cacheName: currentCache });
            if (current === undefined) return false;
            const name = await current.text();
            const others = (await caches.keys()).filter((n) => n !== name && n !== currentCache);
            const manifest = await caches.match("models/manifest.json", { cacheName: name });
            return name !== replacing && others.length === 0 && manifest !== undefined &&
                JSON.stringify((await manifest.json()).models.map((m) => m.id)) ===
                JSON.stringify(models);
        }""",
        [CURRENT_CACHE, CURRENT_KEY, models, replacing],
    )


def cached_files(page: Page) -> dict[str, dict[str, str]]:
    """Every cache's files: {cache: {path under the page ("" for the page itself): SHA-256}}."""
    # caches.open() lists a cache's files; offline, no check of the worker deletes one meanwhile.
    return page.evaluate(
        """async () => {
            const hex = (digest) =>
                Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
            const all = {};
            for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                all[name] = {};
                for (const request of await cache.keys()) {
                    const bytes = await (await cache.match(request)).arrayBuffer();
                    const path = new URL(request.url).pathname.slice(1);
                    all[name][path] = hex(await crypto.subtle.digest("SHA-256", bytes));
                }
            }
            return all;
        }"""
    )


def page_files() -> list[str]:
    """sw.js's PAGE_FILES."""
    listing = re.search(r"const PAGE_FILES = \[(.*?)\];", SW.read_text(), re.DOTALL)
    return re.findall(r'"([^"]+)"', listing.group(1))


def served_port() -> int:
    """A free port, for a server stopped and started again on the same origin (the worker's)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def page_copy(trained_project: SmallProject, tmp_path: Path) -> Path:
    """A copy of the page that a test may re-export into (its own server, its own origin)."""
    return copy_page(tmp_path / "web", trained_project.path / "web" / "models")


def drop_model(web_dir: Path, model_id: str) -> None:
    """A new export without `model_id`: its folder gone and the manifest rewritten."""
    manifest_path = web_dir / "models" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["models"] = [m for m in manifest["models"] if m["id"] != model_id]
    manifest_path.write_text(json.dumps(manifest, indent=2))
    shutil.rmtree(web_dir / "models" / model_id)


@pytest.mark.slow
def test_after_one_visit_the_page_works_with_the_server_gone(
    page_copy: Path, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    browser = launch_chromium(samples_dir / "dog/dog.jpeg")
    with serve(page_copy) as url:
        page = open_online(browser, url)
        wait_for_frames(page, 3)
        wait_until_offline_ready(page, ["transfer", "cnn"])
    reload_offline(page)
    wait_for_frames(page, 3)

    state = snapshot(page)
    assert state["error"] is None
    assert (state["model"], state["backend"]) == ("transfer", "wasm")
    assert state["crossOriginIsolated"]  # the cached page keeps its headers (threaded WASM)
    expect(page.locator("#label")).to_have_text("dog")
    page.select_option("#model-select", "cnn")  # every exported model is there
    page.wait_for_function("() => catDogDebug.snapshot().model === 'cnn'")
    assert upload(page, samples_dir / "cat/kitten.jpeg")["source"] == "photo kitten.jpeg"
    assert page.evaluate("fetch('models/manifest.json').then((r) => r.ok)")
    # What was never cached is not made up.
    assert not page.evaluate("fetch('serve.py').then((r) => r.ok, () => false)")


def make_version_b(web_dir: Path) -> None:
    """Version B of the page in `web_dir`, with sw.js and the models unchanged: TF.js upgraded
    (other script and WASM bytes, that still run), and the page edited (its title)."""
    for wasm in (web_dir / "vendor").glob("*.wasm"):
        with wasm.open("ab") as binary:
            binary.write(WASM_SECTION_B)
    with (web_dir / "vendor" / "tf-core.min.js").open("a") as script:
        script.write("\n// version B\n")
    index = web_dir / "index.html"
    index.write_text(
        index.read_text().replace("<title>Cat or dog?</title>", f"<title>{B_TITLE}</title>")
    )


def sha256(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "missing"


def assert_offline_copy_is(page: Page, web_dir: Path) -> None:
    """Besides the name of the current version, the browser caches one version: exactly the files
    served from `web_dir` now (the page's, the manifest and the models it lists), with their bytes.
    No file of an earlier version is left."""
    caches = cached_files(page)
    assert list(caches.pop(CURRENT_CACHE)) == [CURRENT_KEY]
    [(name, files)] = caches.items()
    assert name == current_version(page)
    manifest = json.loads((web_dir / "models" / "manifest.json").read_text())
    paths = [*page_files(), "models/manifest.json"]
    for model in manifest["models"]:
        folder = model["model_url"].rpartition("/")[0]
        paths += [f"models/{folder}/{file}" for file in model["files"]]
    paths = {path.removeprefix("./") for path in paths}
    assert files == {path: sha256(web_dir / (path or "index.html")) for path in paths}


@pytest.mark.slow
def test_an_update_replaces_the_whole_offline_copy_at_once(
    page_copy: Path, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    """Version A, then B (a TF.js upgrade and an edited page; sw.js unchanged), then C (a
    re-export without `cnn`): each time, once online, the page runs the new version offline."""
    port = served_port()
    browser = launch_chromium(samples_dir / "dog/dog.jpeg")
    with serve(page_copy, "--port", str(port)) as url:
        page = open_online(browser, url)
        wait_until_offline_ready(page, ["transfer", "cnn"])
    version_a = current_version(page)
    reload_offline(page)
    expect(page).to_have_title("Cat or dog?")
    expect(page.locator("#model-select option")).to_have_count(2)
    assert_offline_copy_is(page, page_copy)

    make_version_b(page_copy)
    with serve(page_copy, "--port", str(port)):
        page.reload()  # online: B at once, and the worker caches it
        expect(page).to_have_title(B_TITLE)
        wait_until_offline_ready(page, ["transfer", "cnn"], replacing=version_a)
    version_b = current_version(page)
    reload_offline(page)
    wait_for_frames(page, 3)
    state = snapshot(page)
    assert state["error"] is None
    assert (state["backend"], state["crossOriginIsolated"]) == ("wasm", True)  # B's WASM runs
    expect(page).to_have_title(B_TITLE)
    expect(page.locator("#model-select option")).to_have_count(2)
    expect(page.locator("#label")).to_have_text("dog")
    assert_offline_copy_is(page, page_copy)

    drop_model(page_copy, "cnn")
    with serve(page_copy, "--port", str(port)):
        page.reload()
        expect(page.locator("#model-select option")).to_have_count(1)
        wait_until_offline_ready(page, ["transfer"], replacing=version_b)
    reload_offline(page)
    wait_for_frames(page, 3)
    assert snapshot(page)["error"] is None
    expect(page.locator("#model-select option")).to_have_count(1)
    expect(page.locator("#label")).to_have_text("dog")
    assert_offline_copy_is(page, page_copy)


@pytest.mark.slow
def test_the_page_works_offline_with_its_default_model_before_the_others(
    page_copy: Path, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    """`cnn` missing on the server at the first visit: the worker installs and the page works
    offline with `transfer` (offering only what it holds); `cnn` comes at a later visit online."""
    port = served_port()
    cnn, held_back = page_copy / "models" / "cnn", page_copy.parent / "cnn"
    cnn.rename(held_back)
    browser = launch_chromium(samples_dir / "dog/dog.jpeg")
    with serve(page_copy, "--port", str(port)) as url:
        page = open_online(browser, url)
        wait_until_offline_ready(page, ["transfer"])
    reload_offline(page)
    wait_for_frames(page, 3)
    assert snapshot(page)["error"] is None
    expect(page.locator("#model-select option")).to_have_count(1)
    expect(page.locator("#label")).to_have_text("dog")

    held_back.rename(cnn)
    with serve(page_copy, "--port", str(port)):
        page.reload()
        wait_until_offline_ready(page, ["transfer", "cnn"])
    reload_offline(page)
    page.wait_for_function("() => catDogDebug.snapshot().model === 'transfer'")
    page.select_option("#model-select", "cnn")
    page.wait_for_function("() => catDogDebug.snapshot().model === 'cnn'")
    assert upload(page, samples_dir / "cat/kitten.jpeg")["source"] == "photo kitten.jpeg"


@pytest.mark.slow
def test_an_update_becomes_the_offline_copy_only_once_whole(
    page_copy: Path, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    """Version B (TF.js and page changed, `cnn` re-exported) while B's `cnn` is not on the server
    yet: B's cache holds its default model, yet offline the page still runs all of A; once B's
    `cnn` comes, B replaces A."""
    port = served_port()
    browser = launch_chromium(samples_dir / "dog/dog.jpeg")
    with serve(page_copy, "--port", str(port)) as url:
        page = open_online(browser, url)
        wait_until_offline_ready(page, ["transfer", "cnn"])
    version_a = current_version(page)

    make_version_b(page_copy)
    # B's manifest lists a new cnn/model.json; the server still has A's (being re-exported).
    model_json = page_copy / "models" / "cnn" / "model.json"
    new_model_json = model_json.read_bytes() + b"\n"
    manifest_path = page_copy / "models" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    [cnn] = [model for model in manifest["models"] if model["id"] == "cnn"]
    cnn["files"]["model.json"] = {
        "bytes": len(new_model_json),
        "sha256": hashlib.sha256(new_model_json).hexdigest(),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2))
    with serve(page_copy, "--port", str(port)):
        page.reload()
        expect(page).to_have_title(B_TITLE)
        wait_until(  # B cached as far as it goes: its page files and `transfer`
            page,
            """async ([currentCache, a]) => {
                for (const name of await caches.keys()) {
                    if (name === currentCache || name === a) continue;
                    const manifest =
                        await caches.match("models/manifest.json", { cacheName: name });
                    if (manifest && (await manifest.json()).models.length === 1) return true;
                }
                return false;
            }""",
            [CURRENT_CACHE, version_a],
        )
    assert current_version(page) == version_a
    reload_offline(page)
    expect(page).to_have_title("Cat or dog?")
    page.select_option("#model-select", "cnn")  # A's, whole
    page.wait_for_function("() => catDogDebug.snapshot().model === 'cnn'")

    model_json.write_bytes(new_model_json)
    with serve(page_copy, "--port", str(port)):
        page.reload()
        wait_until_offline_ready(page, ["transfer", "cnn"], replacing=version_a)
    reload_offline(page)
    expect(page).to_have_title(B_TITLE)
    assert_offline_copy_is(page, page_copy)


def test_the_offline_copy_lists_every_file_the_page_serves():
    """sw.js's PAGE_FILES is every file serve.py serves besides the models and sw.js itself: a
    module or vendor file added to the page is also in its offline copy."""
    spec = importlib.util.spec_from_file_location("serve", PROJECT_ROOT / "web" / "serve.py")
    serve_py = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve_py)
    web = PROJECT_ROOT / "web"
    served = {
        file.relative_to(web).as_posix()
        for file in web.rglob("*")
        if file.is_file()
        and file.parts[len(web.parts)] not in ("node_modules", "models")
        and serve_py.page_file(web, "/" + file.relative_to(web).as_posix()) is not None
    }
    assert "vendor/tf-core.min.js" in served  # `npm run build` ran
    assert sorted(page_files()) == sorted({"./", *served} - {"sw.js"})


@pytest.mark.slow
def test_offline_the_current_export_is_served_whatever_other_caches_hold(
    page_copy: Path, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    """A stray version cache (one a deletion raced, say), newer than the current one and complete,
    listing only `cnn`: offline, the page still gets the version its worker made current."""
    browser = launch_chromium(samples_dir / "dog/dog.jpeg")
    with serve(page_copy) as url:
        page = open_online(browser, url)
        wait_until_offline_ready(page, ["transfer", "cnn"])
        page.evaluate(
            """async (name) => {
                const manifest = await (await fetch("models/manifest.json")).json();
                manifest.models = manifest.models.filter((m) => m.id === "cnn");
                const stray = await caches.open(name);
                await stray.put("models/manifest.json", Response.json(manifest));
            }""",
            VERSION_PREFIX + "stray",
        )
    page.reload()
    page.wait_for_function("() => catDogDebug.snapshot().model === 'transfer'")
    wait_for_frames(page, 3)

    expect(page.locator("#model-select option")).to_have_count(2)
    expect(page.locator("#label")).to_have_text("dog")


def test_waiting_on_an_async_condition_waits_for_its_answer(
    launch_chromium: Callable[..., Browser],
):
    page = launch_chromium(grant_camera=False).new_page()
    with pytest.raises(TimeoutError):
        wait_until(page, "async () => false", timeout_ms=1000)
    wait_until(page, "async () => true")


@pytest.mark.slow
def test_chromium_finds_the_page_installable(
    page_copy: Path, playwright: Playwright, tmp_path: Path
):
    # A profile on disk: Chromium never offers to install from an incognito-like context.
    context = playwright.chromium.launch_persistent_context(
        tmp_path / "profile",
        executable_path=str(CHROMIUM),
        args=[*CHROMIUM_ARGS, "--disable-gpu"],
    )
    try:
        with serve(page_copy) as url:
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{url}?camera=off")
            wait_until_offline_ready(page, ["transfer", "cnn"])
            devtools = context.new_cdp_session(page)
            manifest = devtools.send("Page.getAppManifest")
            errors = devtools.send("Page.getInstallabilityErrors")["installabilityErrors"]
    finally:
        context.close()

    assert manifest["url"] == f"{url}manifest.webmanifest"
    assert manifest["errors"] == []
    assert errors == []
