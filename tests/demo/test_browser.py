"""The playground in a real headless Chromium, against a real `chatkit demo` process.

Needs Debian's `chromium` (`apt-get install chromium`) and the `playwright` package (used only to
drive that browser; `playwright install` is never run). Without them the tests skip, except under
`CI=true` where they fail. Screenshots land in `tests/demo/artifacts/`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.demo.conftest import ARTIFACTS, RunningProcess, free_port, start_process, user_message

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PIXEL = Path(__file__).parent / "pixel.png"
LAST_SENTENCE = "Everything you see went through the same protocol"
# Slow enough to watch the answer grow and press stop (about ten seconds an answer), or quick.
SLOW_PACE = "0.04"
QUICK_PACE = "0.001"


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


def demo_process(tmp_path_factory: pytest.TempPathFactory, pace: str) -> Iterator[RunningProcess]:
    workdir = tmp_path_factory.mktemp("browser-demo")
    port = free_port()
    env = {"PORT": str(port), "CHATKIT_DEMO_PACE": pace}
    running = start_process(["demo"], cwd=workdir, port=port, env=env, log=workdir / "demo.log")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def slow_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    """A demo whose answers take seconds to stream."""
    yield from demo_process(tmp_path_factory, SLOW_PACE)


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    """A demo that answers almost at once."""
    yield from demo_process(tmp_path_factory, QUICK_PACE)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium driven by playwright."""
    reason = missing_browser()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run under CI: {reason}")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


class Playground:
    """One browser tab on the playground, failing the test on any script error."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", self._on_console)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    async def open(self, path: str = "/") -> None:
        await self.page.goto(f"{self.base_url}{path}")
        await self.page.wait_for_selector("body[data-ready=true]")

    async def reload(self) -> None:
        await self.page.reload()
        await self.page.wait_for_selector("body[data-ready=true]")

    async def send(self, text: str) -> None:
        """Send a message and wait until it shows (the answer may still be streaming, or done)."""
        sent = await self.page.locator(".item-user_message").count()
        await self.page.fill("#composer-input", text)
        await self.page.click("#send")
        await self.page.wait_for_function("(n) => document.querySelectorAll('.item-user_message').length > n", arg=sent)

    async def settle(self) -> None:
        await self.page.wait_for_selector("body[data-streaming=false]", timeout=60_000)

    async def answer_texts(self) -> list[str]:
        return await self.page.locator(".item-assistant_message .assistant-text").all_inner_texts()

    async def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)


async def playground(browser: Browser, demo: RunningProcess) -> Playground:
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    tab = Playground(page, demo.base_url)
    await tab.open()
    return tab


async def test_reply_streams_in_and_the_thread_survives_a_reload(browser: Browser, slow_demo: RunningProcess) -> None:
    tab = await playground(browser, slow_demo)
    page = tab.page
    await tab.send("How does streaming work?")
    progress = page.locator("#progress")
    await progress.wait_for()
    assert await progress.inner_text() == "⌕ Researching “How does streaming work?”…"

    # While the stream is open, the answer already shows and keeps growing.
    growing = """(minimum) => document.body.dataset.streaming === "true" &&
        (document.querySelector(".item-assistant_message .assistant-text")?.innerText.length ?? 0) > minimum"""
    await page.wait_for_function(growing, arg=40)
    first = len((await tab.answer_texts())[-1])
    await page.wait_for_function(growing, arg=first + 40)
    assert await page.locator(".item-workflow .task-complete").count() == 3
    await tab.screenshot("01-streaming.png")

    await tab.settle()
    (answer,) = await tab.answer_texts()
    assert "I am the offline demo model" in answer
    assert LAST_SENTENCE in answer
    # Rendered as Markdown, not shown as source.
    assert await page.locator(".assistant-text h2").inner_text() == "About “How does streaming work?”"
    assert await page.locator(".assistant-text pre code").count() == 1
    assert "**" not in answer
    assert await page.locator(".widget [data-widget=Card]").count() == 1
    assert await page.locator("#thread-title").inner_text() == "How does streaming work?"
    assert await page.locator(".thread-entry.active .thread-open").inner_text() == "How does streaming work?"
    await tab.screenshot("02-answered.png")

    await tab.reload()
    assert await page.locator(".item-user_message .user-text").all_inner_texts() == ["How does streaming work?"]
    assert await tab.answer_texts() == [answer]
    assert await page.locator(".item-workflow .task-complete").count() == 3
    assert await page.locator("#thread-title").inner_text() == "How does streaming work?"
    await tab.screenshot("03-reloaded.png")
    assert tab.errors == []


async def test_stop_keeps_the_partial_answer(browser: Browser, slow_demo: RunningProcess) -> None:
    tab = await playground(browser, slow_demo)
    page = tab.page
    await tab.send("Tell me about stopping")
    await page.wait_for_function(
        """() => (document.querySelector(".item-assistant_message .assistant-text")?.innerText.length ?? 0) > 300"""
    )
    await page.click("#stop")
    await tab.settle()
    (shown,) = await tab.answer_texts()
    assert LAST_SENTENCE not in shown
    assert await page.locator("#stop").is_hidden()
    await tab.screenshot("04-stopped.png")

    # The server saves the partial answer when it sees the disconnect; give it a moment.
    saved = ""
    for _ in range(20):
        await tab.reload()
        texts = await tab.answer_texts()
        if texts:
            (saved,) = texts
            break
        await page.wait_for_timeout(250)
    assert saved.startswith(shown[:250])
    assert len(saved) >= len(shown)
    assert LAST_SENTENCE not in saved
    await tab.screenshot("05-stopped-reloaded.png")

    # The thread goes on after a stop.
    await tab.send("And now?")
    await tab.settle()
    texts = await tab.answer_texts()
    assert len(texts) == 2 and LAST_SENTENCE in texts[1]
    assert tab.errors == []


@pytest.mark.parametrize("strategy", ["two_phase", "direct"])
async def test_image_upload_shows_its_preview(browser: Browser, quick_demo: RunningProcess, strategy: str) -> None:
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    tab = Playground(page, quick_demo.base_url)
    await tab.open("/" if strategy == "two_phase" else "/?upload=direct")
    await page.set_input_files("#file-input", str(PIXEL))
    await page.wait_for_selector("#pending-attachments .attachment.uploaded")
    await tab.send("What is in this picture?")
    await tab.settle()

    preview = page.locator(".item-user_message img.attachment-preview")
    await preview.wait_for()
    assert await preview.get_attribute("alt") == "pixel.png"
    # The image came back from the server's preview URL: it decoded to the uploaded 48×48 pixels.
    await page.wait_for_function(
        """() => document.querySelector(".item-user_message img.attachment-preview")?.naturalWidth === 48"""
    )
    assert await page.locator("#pending-attachments").is_hidden()
    assert "You attached 1 image" in (await tab.answer_texts())[-1]
    await preview.scroll_into_view_if_needed()
    await tab.screenshot(f"06-image-upload-{strategy}.png")
    assert tab.errors == []


async def test_widget_button_runs_the_server_action(browser: Browser, quick_demo: RunningProcess) -> None:
    tab = await playground(browser, quick_demo)
    page = tab.page
    await tab.send("Show me a card")
    await tab.settle()
    status = page.locator(".widget [data-component-id=status]")
    assert await status.inner_text() == "Not pressed yet."

    await page.click(".widget button:has-text('Press me')")
    await page.wait_for_function(
        """() => document.querySelector(".widget [data-component-id=status]").innerText.startsWith("Pressed once")"""
    )
    await tab.settle()
    await page.click(".widget button:has-text('Press me')")
    await page.wait_for_function(
        """() => document.querySelector(".widget [data-component-id=status]").innerText.startsWith("Pressed 2 times")"""
    )
    await tab.screenshot("07-widget-action.png")
    await tab.settle()

    await tab.reload()
    assert (await status.inner_text()).startswith("Pressed 2 times")
    assert tab.errors == []


async def test_feedback_retry_and_client_tool(browser: Browser, quick_demo: RunningProcess) -> None:
    tab = await playground(browser, quick_demo)
    page = tab.page
    await tab.send("Rate this answer")
    await tab.settle()
    first_id = await page.locator(".item-assistant_message").get_attribute("data-item-id")

    await page.click(".item-assistant_message .feedback-positive")
    await page.wait_for_selector(".item-assistant_message .feedback-positive.chosen")

    await page.click(".item-assistant_message .retry")
    await page.wait_for_function(
        """(old) => { const items = document.querySelectorAll(".item-assistant_message");
            return items.length === 1 && items[0].dataset.itemId !== old; }""",
        arg=first_id,
    )
    await tab.settle()
    assert LAST_SENTENCE in (await tab.answer_texts())[-1]

    # The client tool runs in the page, which sends its output back and gets the final answer.
    await tab.send("What time is it in my browser?")
    await page.wait_for_function(
        """() => [...document.querySelectorAll(".item-assistant_message")].some(
            (item) => item.innerText.includes("time_zone"))""",
        timeout=30_000,
    )
    await tab.settle()
    assert "completed" in await page.locator(".item-client_tool_call").inner_text()
    await tab.screenshot("08-client-tool.png")
    assert tab.errors == []


async def test_thread_list_pages(browser: Browser, quick_demo: RunningProcess) -> None:
    async with httpx.AsyncClient(base_url=quick_demo.base_url, timeout=30) as client:
        for index in range(3):
            (await client.post("/chatkit", json=user_message(f"Paged thread {index}"))).raise_for_status()
        listing = (await client.post("/chatkit", json={"type": "threads.list", "params": {"limit": 100}})).json()
    total = len(listing["data"])

    page = await browser.new_page()
    tab = Playground(page, quick_demo.base_url)
    await tab.open("/?page_size=2")
    entries = page.locator(".thread-entry")
    assert await entries.count() == 2
    assert await entries.first.locator(".thread-open").inner_text() == listing["data"][0]["title"]
    while await page.locator("#more-threads").is_visible():
        shown = await entries.count()
        await page.click("#more-threads")
        await page.wait_for_function("(n) => document.querySelectorAll('.thread-entry').length > n", arg=shown)
    assert await entries.count() == total
    assert await page.locator("#banner").is_hidden()

    await entries.nth(1).locator(".thread-open").click()
    await page.wait_for_selector(".item-assistant_message")
    assert await page.locator("#thread-title").inner_text() == listing["data"][1]["title"]
    assert tab.errors == []


async def test_errors_are_shown(browser: Browser, quick_demo: RunningProcess) -> None:
    page = await browser.new_page()
    tab = Playground(page, quick_demo.base_url)
    await tab.open("/#thr_nosuchthread")
    banner = page.locator("#banner")
    await banner.wait_for()
    assert (await banner.inner_text()).startswith("404: ")
    assert "banner-error" in (await banner.get_attribute("class") or "")
    # The browser logs the failed request itself; nothing else went wrong.
    assert all("404" in error for error in tab.errors)
    await page.click("#banner .banner-close")
    assert await banner.is_hidden()


async def test_markdown_renderer_escapes_html_and_unsafe_links(browser: Browser, quick_demo: RunningProcess) -> None:
    page = await browser.new_page()
    tab = Playground(page, quick_demo.base_url)
    await tab.open()
    source = '<img src=x onerror="alert(1)"> **bold** [a](javascript:alert(1)) [b](https://example.com/x_y) `<b>`'
    rendered = await page.evaluate(
        "async (source) => (await import('/playground/markdown.js')).renderMarkdown(source)", source
    )
    assert rendered == (
        "<p>&lt;img src=x onerror=&quot;alert(1)&quot;&gt; <strong>bold</strong> a) "
        '<a href="https://example.com/x_y" target="_blank" rel="noopener noreferrer">b</a> <code>&lt;b&gt;</code></p>'
    )
    assert tab.errors == []
