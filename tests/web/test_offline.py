"""Offline after the first visit (web/sw.js), a new export picked up, and installable (the web app
manifest): the server is really stopped, not emulated, and Chromium itself judges installability."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.conftest import SmallProject

from .conftest import CHROMIUM, CHROMIUM_ARGS, copy_page, serve
from .pages import TIMEOUT_MS, snapshot, upload, wait_for_frames, wait_until

# sw.js: one cache per export, named by its manifest; the current export's manifest is kept in the
# page's cache, its header naming that export's cache
MODELS_CACHE_PREFIX = "cat-dog-models-"
PAGE_CACHE = "cat-dog-page"
EXPORT_CACHE_HEADER = "X-Cat-Dog-Export-Cache"


def open_online(browser: Browser, url: str) -> Page:
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_function("() => window.catDogDebug !== undefined")
    return page


def cached_exports(page: Page) -> list[list[str]]:
    """Per cached export, the model folders its cached manifest lists."""
    # caches.match(..., {cacheName}) rather than caches.open(), which creates a cache it does not
    # find: a check racing the worker's deletion of an old export would bring it back.
    return page.evaluate(
        """async (prefix) => {
            const exports = [];
            for (const name of await caches.keys()) {
                if (!name.startsWith(prefix)) continue;
                const manifest = await caches.match("models/manifest.json", { cacheName: name });
                exports.push(manifest ? (await manifest.json()).models.map((m) => m.id) : []);
            }
            return exports;
        }""",
        MODELS_CACHE_PREFIX,
    )


def wait_until_offline_ready(page: Page, models: list[str]) -> None:
    """The worker controls the page, holds exactly one export, the one listing `models`, and serves
    it offline (its manifest stored beside the page's files names that export's cache)."""
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    wait_until(
        page,
        """async ([prefix, pageCache, header, models]) => {
            const names = (await caches.keys()).filter((name) => name.startsWith(prefix));
            if (names.length !== 1) return false;
            const current = await caches.match("models/manifest.json", { cacheName: pageCache });
            return current !== undefined && current.headers.get(header) === names[0] &&
                JSON.stringify((await current.json()).models.map((m) => m.id)) ===
                JSON.stringify(models);
        }""",
        [MODELS_CACHE_PREFIX, PAGE_CACHE, EXPORT_CACHE_HEADER, models],
    )


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
    # The server is stopped: nothing answers on its port any more.
    page.reload()
    page.wait_for_function("() => window.catDogDebug !== undefined")
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


@pytest.mark.slow
def test_a_new_export_replaces_the_offline_copy(
    page_copy: Path, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    browser = launch_chromium(samples_dir / "dog/dog.jpeg")
    with serve(page_copy) as url:
        page = open_online(browser, url)
        wait_until_offline_ready(page, ["transfer", "cnn"])
        drop_model(page_copy, "cnn")
        page.reload()  # online: the new export at once, and it becomes the offline copy
        page.wait_for_function("() => catDogDebug.snapshot().model === 'transfer'")
        expect(page.locator("#model-select option")).to_have_count(1)
        wait_until_offline_ready(page, ["transfer"])
    page.reload()
    page.wait_for_function("() => catDogDebug.snapshot().model === 'transfer'")
    wait_for_frames(page, 3)

    expect(page.locator("#model-select option")).to_have_count(1)
    expect(page.locator("#label")).to_have_text("dog")
    assert cached_exports(page) == [["transfer"]]  # the older export's cache is gone


@pytest.mark.slow
def test_offline_the_current_export_is_served_whatever_other_caches_hold(
    page_copy: Path, launch_chromium: Callable[..., Browser], samples_dir: Path
):
    """A stray export cache (one a deletion raced, say), newer than the current one and complete,
    listing only `cnn`: offline, the page still gets the export its worker made current."""
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
            MODELS_CACHE_PREFIX + "stray",
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
