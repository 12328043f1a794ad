"""The playground in a real headless Chromium, against a real `chatkit demo` process.

Needs Debian's `chromium` (`apt-get install chromium`) and the `playwright` package (used only to
drive that browser; `playwright install` is never run). Without them the tests skip, except under
`CI=true` where they fail. Screenshots land in `tests/demo/artifacts/`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import httpx
import pytest

from tests.demo.conftest import ARTIFACTS, RunningProcess, free_port, parse_events, start_process, user_message
from tests.demo.sample_servers import SLOW_INTRO, SLOW_WORDS

pytestmark = [pytest.mark.browser, pytest.mark.process]

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PIXEL = Path(__file__).parent / "pixel.png"
LAST_SENTENCE = "Everything you see went through the same protocol"
# Slow enough to watch the answer grow and press stop (about ten seconds an answer), or quick.
SLOW_PACE = "0.04"
QUICK_PACE = "0.001"
SIZES = {"desktop": (1280, 860), "tablet": (768, 1024), "phone": (390, 844)}
SCHEMES: tuple[Literal["light", "dark"], ...] = ("light", "dark")
DISTANCE_FROM_BOTTOM = """() => { const m = document.querySelector("#messages");
    return m.scrollHeight - m.scrollTop - m.clientHeight; }"""
ANSWER_LENGTH = """() => document.querySelector(".item-assistant_message .assistant-text")?.innerText.length ?? 0"""


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
    # The server sets the title during the turn; the thread list shows it before the answer ends.
    await page.wait_for_function(
        "(title) => document.querySelector('.thread-entry.active .thread-open')?.innerText === title",
        arg="How does streaming work?",
    )
    assert await page.get_attribute("body", "data-streaming") == "true"

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


async def test_a_reload_in_the_middle_of_a_demo_answer_rejoins_it(browser: Browser, slow_demo: RunningProcess) -> None:
    # The demo runs the grace policy: the reload's new page comes back within the grace and follows
    # the answer to its end, which is then saved whole.
    tab = await playground(browser, slow_demo)
    page = tab.page
    await tab.send("Reload me halfway")
    await page.wait_for_function(
        """() => (document.querySelector(".item-assistant_message .assistant-text")?.innerText.length ?? 0) > 200"""
    )
    await tab.reload()
    await page.wait_for_selector("body[data-rejoined=true]")
    await tab.settle()
    (answer,) = await tab.answer_texts()
    assert LAST_SENTENCE in answer
    assert await page.locator(".stopped-mark").count() == 0
    await tab.reload()
    assert await tab.answer_texts() == [answer]
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
    assert await page.locator(".item-assistant_message .stopped-mark").inner_text() == "Stopped"
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
    await page.wait_for_selector(".item-assistant_message .stopped-mark")
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
    assert await page.locator("#attach").is_visible()
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

    # A file may go without words.
    await page.set_input_files("#file-input", str(PIXEL))
    await page.wait_for_selector("#pending-attachments .attachment.uploaded")
    await page.press("#composer-input", "Enter")
    await page.wait_for_function("() => document.querySelectorAll('.item-user_message').length === 2")
    await tab.settle()
    assert "You attached 1 image" in (await tab.answer_texts())[-1]
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
    call = page.locator(".item-client_tool_call")
    assert "completed" in await call.inner_text()
    # One compact line: the result unfolds from it.
    output = call.locator(".tool-output")
    assert await output.is_hidden()
    await call.locator("summary").click()
    assert "time_zone" in await output.inner_text()
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


async def test_deleting_a_thread_can_be_undone_and_happens_when_the_page_goes(
    browser: Browser, quick_demo: RunningProcess
) -> None:
    async with httpx.AsyncClient(base_url=quick_demo.base_url, timeout=30) as client:
        created = (await client.post("/chatkit", json=user_message("Delete me later"))).content
    thread_id = parse_events(created)[0]["thread"]["id"]
    # A phone: no hover, so every thread shows its delete button.
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = await context.new_page()
    tab = Playground(page, quick_demo.base_url)
    await tab.open()
    await page.click("#menu-toggle")
    entry = page.locator(f'.thread-entry[data-thread-id="{thread_id}"]')
    delete = entry.locator(".thread-delete")
    await delete.wait_for(state="visible", timeout=5000)
    await delete.click()
    # The entry says so in place, with an Undo, for a few seconds.
    assert await entry.locator(".thread-open").is_hidden()
    await tab.screenshot("23-thread-deleted-phone.png")
    await entry.locator(".thread-undo").click()
    assert await entry.locator(".thread-open").is_visible()

    async def exists() -> bool:
        async with httpx.AsyncClient(base_url=quick_demo.base_url, timeout=30) as client:
            response = await client.post(
                "/chatkit", json={"type": "threads.get_by_id", "params": {"thread_id": thread_id}}
            )
        return response.status_code == 200

    assert await exists()
    # Deleted again, then the page is left before the undo runs out: the deletion still happens.
    await delete.click()
    await tab.reload()
    for _ in range(100):
        if not await exists():
            break
        await page.wait_for_timeout(100)
    assert not await exists()
    assert await page.locator(f'.thread-entry[data-thread-id="{thread_id}"]').count() == 0
    assert tab.errors == []
    await context.close()


async def test_threads_are_renamed_searched_and_exported(browser: Browser, quick_demo: RunningProcess) -> None:
    page = await browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    tab = Playground(page, quick_demo.base_url)
    await tab.open()
    assert await page.locator("#export-menu").is_hidden()
    await tab.send("Plan a trip to Lisbon")
    await tab.settle()
    thread_id = await page.evaluate("decodeURIComponent(location.hash.slice(1))")
    entry = page.locator(f'.thread-entry[data-thread-id="{thread_id}"]')

    # Rename in place: Enter saves, and the list, the header and the server agree.
    await entry.locator(".thread-rename").click()
    await entry.locator(".thread-title-input").fill("Lisbon plans")
    await entry.locator(".thread-title-input").press("Enter")
    await page.wait_for_function("() => document.querySelector('#thread-title').innerText === 'Lisbon plans'")
    assert await entry.locator(".thread-open").inner_text() == "Lisbon plans"
    async with httpx.AsyncClient(base_url=quick_demo.base_url, timeout=30) as client:
        stored = await client.post("/chatkit", json={"type": "threads.get_by_id", "params": {"thread_id": thread_id}})
    assert stored.json()["title"] == "Lisbon plans"

    # Search keeps only the matching threads (case and accents aside).
    await page.fill("#thread-search", "LISBÓN")
    assert await entry.is_visible()
    assert await page.locator(".thread-entry:not([hidden])").count() == 1
    await page.fill("#thread-search", "")
    assert await page.locator(".thread-entry:not([hidden])").count() >= 1

    # Export as Markdown and as JSON.
    for choice, suffix in (("markdown", ".md"), ("json", ".json")):
        await page.click("#export-menu summary")
        async with page.expect_download() as download_info:
            await page.click(f'#export-menu [data-export="{choice}"]')
        download = await download_info.value
        assert download.suggested_filename == f"Lisbon-plans{suffix}"
        text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
        if choice == "markdown":
            assert text.startswith("# Lisbon plans\n\n**You:** Plan a trip to Lisbon")
            assert LAST_SENTENCE in text
        else:
            exported = json.loads(text)
            assert exported["thread"]["id"] == thread_id
            assert [item["type"] for item in exported["items"]][:1] == ["user_message"]

    # The header's own New chat (a phone has no sidebar in view).
    await page.click("#header-new-thread")
    await page.wait_for_selector("#start-screen:not([hidden])")
    assert tab.errors == []


async def test_the_header_and_history_options_are_followed(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("browser-options")
    port = free_port()
    args = ["serve", "tests.demo.sample_servers:options_app", "--port", str(port)]
    running = start_process(args, cwd=workdir, port=port, log=workdir / "serve.log")
    try:
        page = await browser.new_page(viewport={"width": 1200, "height": 900})
        tab = Playground(page, running.base_url)
        await tab.open()
        # history.enabled false: no thread list; header.title.text: a fixed title, whatever the thread.
        assert await page.locator("#sidebar").is_hidden()
        assert await page.locator("#thread-title").inner_text() == "Support desk"
        # composer.models and composer.tools: chosen in the composer, sent as inference_options.
        assert await page.input_value("#model-picker") == "smart"
        await page.select_option("#model-picker", "fast")
        await page.select_option("#tool-picker", "search")
        assert await page.get_attribute("#composer-input", "placeholder") == "Search for..."
        await tab.send("hello")
        await tab.settle()
        assert await page.locator("#thread-title").inner_text() == "Support desk"
        # The tool is not persistent: cleared for the next message; the model stays.
        assert await page.input_value("#tool-picker") == ""
        assert await page.input_value("#model-picker") == "fast"
        thread_id = await page.evaluate("decodeURIComponent(location.hash.slice(1))")
        async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as client:
            listed = await client.post(
                "/chatkit", json={"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}
            )
        sent = listed.json()["data"][0]
        assert sent["inference_options"] == {"tool_choice": {"id": "search"}, "model": "fast"}
        await tab.screenshot("24-composer-options.png")
        assert tab.errors == []
    finally:
        running.stop()


async def test_errors_are_shown_in_words_with_the_request_id(browser: Browser, quick_demo: RunningProcess) -> None:
    page = await browser.new_page()
    tab = Playground(page, quick_demo.base_url)
    await tab.open("/#thr_nosuchthread")
    banner = page.locator("#banner")
    await banner.wait_for()
    assert "banner-error" in (await banner.get_attribute("class") or "")
    assert await banner.locator(".banner-message").inner_text() == "Thread 'thr_nosuchthread' not found"
    request_id = await banner.locator(".request-id").inner_text()
    assert request_id.startswith("Request id ") and len(request_id) > len("Request id ")
    text = await banner.inner_text()
    assert "{" not in text and "404" not in text and "not_found" not in text
    assert await page.locator("#thread-title").inner_text() == "Thread unavailable"
    # The browser logs the failed request itself; nothing else went wrong.
    assert all("404" in error for error in tab.errors)

    await banner.locator("button:has-text('Start a new chat')").click()
    assert await banner.is_hidden()
    await page.wait_for_selector("#start-screen:not([hidden])")
    assert await page.evaluate("location.hash") == ""


async def test_an_unreachable_server_is_named_with_a_retry(browser: Browser, quick_demo: RunningProcess) -> None:
    page = await browser.new_page()
    tab = Playground(page, quick_demo.base_url)
    await tab.open("/?endpoint=http://127.0.0.1:1/chatkit")
    banner = page.locator("#banner")
    await banner.wait_for()
    message = "Cannot reach the server at http://127.0.0.1:1/chatkit: is it running?"
    assert await banner.locator(".banner-message").inner_text() == message
    assert await banner.locator(".request-id").count() == 0
    await banner.locator("button:has-text('Retry')").click()
    await page.wait_for_selector("#banner:not([hidden]) button:has-text('Retry')")
    assert await banner.locator(".banner-message").inner_text() == message


async def test_the_hash_names_the_thread_on_screen(browser: Browser, quick_demo: RunningProcess) -> None:
    threads = {}
    async with httpx.AsyncClient(base_url=quick_demo.base_url, timeout=30) as client:
        for text in ("First hash thread", "Second hash thread"):
            events = parse_events((await client.post("/chatkit", json=user_message(text))).content)
            threads[text] = events[0]["thread"]["id"]
    first, second = threads.values()
    page = await browser.new_page()
    tab = Playground(page, quick_demo.base_url)
    await tab.open(f"/#{first}")
    user_texts = page.locator(".item-user_message .user-text")
    assert await user_texts.all_inner_texts() == ["First hash thread"]

    # An edited address switches threads; the old one leaves the screen.
    await page.evaluate("(id) => { location.hash = id; }", second)
    await page.wait_for_function("() => document.querySelector('#thread-title').innerText === 'Second hash thread'")
    assert await user_texts.all_inner_texts() == ["Second hash thread"]
    assert await page.locator(".thread-entry.active").get_attribute("data-thread-id") == second

    # Back returns to the first thread, forward to the second.
    await page.go_back()
    await page.wait_for_function("() => document.querySelector('#thread-title').innerText === 'First hash thread'")
    assert await user_texts.all_inner_texts() == ["First hash thread"]
    await page.go_forward()
    await page.wait_for_function("() => document.querySelector('#thread-title').innerText === 'Second hash thread'")

    # A thread chosen in the list is a history entry too, and "New chat" another.
    await page.click(f".thread-entry[data-thread-id='{first}'] .thread-open")
    await page.wait_for_function("() => document.querySelector('#thread-title').innerText === 'First hash thread'")
    assert await page.evaluate("location.hash") == f"#{first}"
    await page.click("#new-thread")
    await page.wait_for_selector("#start-screen:not([hidden])")
    assert await user_texts.count() == 0
    await page.go_back()
    await page.wait_for_function("() => document.querySelector('#thread-title').innerText === 'First hash thread'")

    # A hash naming no thread clears the screen and says so.
    await page.evaluate("() => { location.hash = 'thr_gone'; }")
    await page.wait_for_selector("#banner .banner-message:has-text(\"Thread 'thr_gone' not found\")")
    assert await user_texts.count() == 0
    assert all("404" in error for error in tab.errors)


async def test_a_streaming_answer_keeps_the_view_at_the_bottom(browser: Browser, slow_demo: RunningProcess) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 500})
    tab = Playground(page, slow_demo.base_url)
    await tab.open()
    await tab.send("Follow me")
    # Pinned: while the text grows past the fold, the view stays at the end.
    for minimum in (60, 150, 250):
        await page.wait_for_function(f"() => ({ANSWER_LENGTH})() > {minimum}")
        assert await page.evaluate("() => document.body.dataset.streaming") == "true"
        assert await page.evaluate(DISTANCE_FROM_BOTTOM) <= 2
        assert await page.locator("#jump-latest").is_hidden()
    assert await page.evaluate("() => document.querySelector('#messages').scrollTop") > 0

    # Scrolled up, it stops following and offers a way back.
    box = await page.locator("#messages").bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.wheel(0, -400)
    await page.wait_for_function(f"() => ({DISTANCE_FROM_BOTTOM})() > 300")
    held = await page.evaluate("() => document.querySelector('#messages').scrollTop")
    grown = await page.evaluate(ANSWER_LENGTH)
    await page.wait_for_function(f"() => ({ANSWER_LENGTH})() > {grown + 60}")
    assert await page.evaluate("() => document.querySelector('#messages').scrollTop") == held
    jump = page.locator("#jump-latest")
    assert await jump.is_visible()
    assert await jump.inner_text() == "↓ Jump to latest"
    # On the right half, clear of the answers' action buttons at the left.
    pill = await jump.bounding_box()
    assert pill is not None and pill["x"] > box["x"] + box["width"] / 2
    await tab.screenshot("09-scrolled-up-while-streaming.png")

    # The button goes back to the end, and the view follows again.
    await jump.click()
    assert await page.evaluate(DISTANCE_FROM_BOTTOM) <= 2
    grown = await page.evaluate(ANSWER_LENGTH)
    await page.wait_for_function(f"() => ({ANSWER_LENGTH})() > {grown + 60}")
    assert await page.evaluate(DISTANCE_FROM_BOTTOM) <= 2
    assert await jump.is_hidden()
    await page.click("#stop")
    await tab.settle()
    assert tab.errors == []


async def test_the_composer_grows_and_enter_sends(browser: Browser, quick_demo: RunningProcess) -> None:
    tab = await playground(browser, quick_demo)
    page = tab.page
    composer = page.locator("#composer-input")
    one_line = await composer.evaluate("(el) => el.offsetHeight")
    await composer.click()
    await page.keyboard.type("first line")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("second line")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("third line")
    assert await composer.input_value() == "first line\nsecond line\nthird line"
    three_lines = await composer.evaluate("(el) => el.offsetHeight")
    assert three_lines >= one_line + 40
    # Every line shows: nothing scrolled out of the box.
    assert await composer.evaluate("(el) => el.scrollHeight <= el.clientHeight")
    assert await page.locator(".item-user_message").count() == 0

    for index in range(20):
        await page.keyboard.press("Shift+Enter")
        await page.keyboard.type(f"more {index}")
    capped = await composer.evaluate("(el) => el.offsetHeight")
    assert 150 <= capped <= 210
    assert await composer.evaluate("(el) => getComputedStyle(el).overflowY") == "auto"

    await page.keyboard.press("Enter")
    await page.wait_for_selector(".item-user_message")
    sent = await page.locator(".item-user_message .user-text").inner_text()
    assert sent.startswith("first line\nsecond line\nthird line\nmore 0")
    assert await composer.input_value() == ""
    assert await composer.evaluate("(el) => el.offsetHeight") == one_line
    await tab.settle()
    assert tab.errors == []


async def test_a_start_screen_prompt_sends_its_message(browser: Browser, quick_demo: RunningProcess) -> None:
    tab = await playground(browser, quick_demo)
    page = tab.page
    start = page.locator("#start-screen")
    assert await start.is_visible()
    assert await page.locator("#greeting").inner_text() == "What would you like to see the demo do?"
    prompts = page.locator(".start-prompt")
    assert await prompts.all_inner_texts() == [
        "ϟ\nHow does streaming work?",
        "✦\nShow me a widget",
        "◷\nWhat time is it in my browser?",
    ] or [text.split("\n")[-1] for text in await prompts.all_inner_texts()] == [
        "How does streaming work?",
        "Show me a widget",
        "What time is it in my browser?",
    ]
    assert await page.locator("#composer-input").get_attribute("placeholder") == "Message the demo assistant"
    assert "offline scripted model" in await page.locator("#disclaimer").inner_text()

    await prompts.filter(has_text="Show me a widget").click()
    await page.wait_for_selector(".item-user_message")
    assert await start.is_hidden()
    assert await page.locator(".item-user_message .user-text").inner_text() == "Show me a widget with a button"
    await tab.settle()
    assert await page.locator(".widget [data-widget=Card]").count() == 1
    assert tab.errors == []


async def test_message_actions_are_icon_buttons_with_tooltips(browser: Browser, quick_demo: RunningProcess) -> None:
    tab = await playground(browser, quick_demo)
    page = tab.page
    await tab.send("Which buttons are there?")
    await tab.settle()
    buttons = page.locator(".item-assistant_message .message-actions button")
    titles = [await buttons.nth(index).get_attribute("title") for index in range(await buttons.count())]
    assert titles == ["Copy", "Good answer", "Bad answer", "Retry: answer the previous message again"]
    for index in range(len(titles)):
        assert await buttons.nth(index).inner_text() == ""
        assert await buttons.nth(index).locator("svg").count() == 1
        assert await buttons.nth(index).get_attribute("aria-label") == titles[index]
    assert tab.errors == []


async def test_phone_menu_opens_the_thread_list_and_new_chat(browser: Browser, quick_demo: RunningProcess) -> None:
    async with httpx.AsyncClient(base_url=quick_demo.base_url, timeout=30) as client:
        (await client.post("/chatkit", json=user_message("A thread for the phone"))).raise_for_status()
    page = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    tab = Playground(page, quick_demo.base_url)
    await tab.open()
    sidebar = page.locator("#sidebar")
    toggle = page.locator("#menu-toggle")

    async def sidebar_on_screen() -> bool:
        box = await sidebar.bounding_box()
        return box is not None and box["x"] >= 0 and box["x"] + box["width"] > 0

    assert await toggle.is_visible()
    assert not await sidebar_on_screen()
    # The placeholder fits on the one line of the composer.
    fits = await page.evaluate(
        """() => { const input = document.querySelector("#composer-input");
            const probe = document.createElement("span");
            probe.style.font = getComputedStyle(input).font;
            probe.style.whiteSpace = "nowrap";
            probe.style.position = "absolute";
            probe.textContent = input.placeholder;
            document.body.append(probe);
            const width = probe.getBoundingClientRect().width;
            probe.remove();
            const style = getComputedStyle(input);
            return width <= input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight); }"""
    )
    assert fits
    assert await page.locator("#composer-input").evaluate("(el) => el.offsetHeight") <= 40

    await toggle.click()
    await page.wait_for_function("() => document.querySelector('#sidebar').getBoundingClientRect().left >= 0")
    assert await toggle.get_attribute("aria-expanded") == "true"
    assert await page.locator(".thread-entry").first.is_visible()
    await tab.screenshot("10-phone-menu.png")

    # Opening a thread closes the menu.
    await page.locator(".thread-entry .thread-open").first.click()
    await page.wait_for_selector(".item-user_message")
    await page.wait_for_function("() => document.querySelector('#sidebar').getBoundingClientRect().right <= 0")

    # So does "New chat", which shows the start screen.
    await toggle.click()
    await page.locator("#new-thread").click()
    await page.wait_for_selector("#start-screen:not([hidden])")
    await page.wait_for_function("() => document.querySelector('#sidebar').getBoundingClientRect().right <= 0")
    assert await toggle.get_attribute("aria-expanded") == "false"
    assert tab.errors == []


@pytest.fixture(scope="module")
def authenticated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    """`chatkit serve` of an app whose context builder requires the `X-User-Id` header."""
    workdir = tmp_path_factory.mktemp("browser-auth")
    port = free_port()
    args = [
        "serve",
        "tests.demo.sample_servers:make_server",
        "--context",
        "tests.demo.sample_servers:required_user",
        "--port",
        str(port),
    ]
    running = start_process(args, cwd=workdir, port=port, log=workdir / "serve.log")
    yield running
    running.stop()


async def test_headers_from_the_settings_panel_reach_the_server(
    browser: Browser, authenticated_server: RunningProcess
) -> None:
    page = await browser.new_page()
    tab = Playground(page, authenticated_server.base_url)
    await tab.open()
    banner = page.locator("#banner")
    await banner.wait_for()
    assert await banner.locator(".banner-message").inner_text() == "Sign in first: send the X-User-Id header."

    # This server has no attachment store: the page offers no attach button.
    assert await page.locator("#attach").is_hidden()

    # A message the server refuses stays in the composer, and the banner leads to Settings.
    await page.fill("#composer-input", "hello from the browser")
    await page.press("#composer-input", "Enter")
    await page.wait_for_selector("#banner .banner-action:has-text('Open Settings')")
    assert await page.input_value("#composer-input") == "hello from the browser"
    assert await page.locator(".item-user_message").count() == 0
    await banner.locator(".banner-action", has_text="Open Settings").click()
    dialog = page.locator("#settings")
    assert await dialog.is_visible()
    assert await page.locator("#settings-endpoint").inner_text() == f"{authenticated_server.base_url}/chatkit"
    await page.fill("#settings-headers", "X-User-Id: ada\nX-Extra: 1")
    await tab.screenshot("11-settings.png")
    await page.click("#settings-save")
    assert await dialog.is_hidden()
    await page.wait_for_selector("#banner", state="hidden")

    # The kept draft goes as it is.
    await page.click("#send")
    await page.wait_for_selector(".item-user_message")
    await tab.settle()
    assert await page.input_value("#composer-input") == ""
    assert await tab.answer_texts() == ["echo: hello from the browser (for ada)"]

    # Kept in the browser: after a reload the same user sees the thread.
    await tab.reload()
    assert await banner.is_hidden()
    assert await page.locator(".thread-entry").count() == 1
    assert await tab.answer_texts() == ["echo: hello from the browser (for ada)"]

    # A malformed line is refused in the panel instead of breaking every request.
    await page.click("#open-settings")
    await page.fill("#settings-headers", "not a header")
    await page.click("#settings-save")
    assert await dialog.is_visible()
    assert "Name: value" in await page.locator("#settings-headers").evaluate("(el) => el.validationMessage")
    assert all("401" in error for error in tab.errors)


async def test_raw_events_are_behind_a_remembered_developer_toggle(
    browser: Browser, quick_demo: RunningProcess
) -> None:
    tab = await playground(browser, quick_demo)
    page = tab.page
    inspector = page.locator("#inspector")
    assert await inspector.is_hidden()
    await page.click("#open-settings")
    await page.check("#settings-developer")
    await page.click("#settings-save")
    assert await inspector.is_visible()
    await tab.reload()
    assert await inspector.is_visible()
    assert int(await page.locator("#inspector-count").inner_text()) > 0

    await page.click("#open-settings")
    assert await page.is_checked("#settings-developer")
    await page.uncheck("#settings-developer")
    await page.click("#settings-save")
    assert await inspector.is_hidden()
    await tab.reload()
    assert await inspector.is_hidden()
    assert tab.errors == []


async def test_the_official_component_page_says_what_it_needs_offline(
    browser: Browser, quick_demo: RunningProcess
) -> None:
    page = await browser.new_page()
    await page.route("https://cdn.platform.openai.com/**", lambda route: route.abort("internetdisconnected"))
    await page.goto(f"{quick_demo.base_url}/playground/official.html")
    notice = page.locator("#unavailable")
    await notice.wait_for(timeout=15_000)
    text = await notice.inner_text()
    assert "needs internet access" in text and "domain key" in text
    assert await notice.locator("a[href='/']").inner_text() == "playground"
    await page.screenshot(path=str(ARTIFACTS / "12-official-offline.png"))


TABLE_WIDGET = {
    "type": "Card",
    "children": [
        {"type": "Title", "value": "Quarterly numbers"},
        {
            "type": "Table",
            "children": [
                {
                    "type": "Table.Row",
                    "header": True,
                    "children": [
                        {"type": "Table.Cell", "children": [{"type": "Text", "value": "Region"}]},
                        {"type": "Table.Cell", "align": "end", "children": [{"type": "Text", "value": "Sales"}]},
                    ],
                },
                {
                    "type": "Table.Row",
                    "children": [
                        {"type": "Table.Cell", "children": [{"type": "Text", "value": "North"}]},
                        {"type": "Table.Cell", "align": "end", "children": [{"type": "Text", "value": "1,204"}]},
                    ],
                },
                {
                    "type": "Table.Row",
                    "children": [
                        {
                            "type": "Table.Cell",
                            "colSpan": 2,
                            "children": [{"type": "Badge", "label": "total 1,204", "color": "success"}],
                        }
                    ],
                },
            ],
        },
        {"type": "Text", "value": "Themed", "color": {"light": "#112233", "dark": "#ddeeff"}},
    ],
}


FORM_CARD = {
    "type": "Card",
    "asForm": True,
    "theme": "dark",
    "children": [{"type": "Input", "name": "city", "defaultValue": "Paris"}],
    "confirm": {"label": "Save", "action": {"type": "save_city", "payload": {"from": "card"}}},
}


async def test_a_card_keeps_its_own_theme_and_sends_its_fields(browser: Browser, quick_demo: RunningProcess) -> None:
    page = await browser.new_page(color_scheme="light")
    tab = Playground(page, quick_demo.base_url)
    await tab.open()
    await page.evaluate(
        """async (widget) => {
            const widgets = await import("/playground/widgets.js");
            window.sent = [];
            const el = widgets.renderWidget(widget, { onAction: (action) => window.sent.push(action) });
            document.querySelector("#start-screen").append(el);
        }""",
        FORM_CARD,
    )
    card = page.locator(".widget [data-widget=Card]")
    assert await card.get_attribute("data-color-scheme") == "dark"
    assert await card.evaluate("(el) => getComputedStyle(el).backgroundColor") == "rgb(35, 36, 40)"
    assert await page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(247, 247, 248)"
    await page.fill(".widget input[name=city]", "Lyon")
    await card.locator("button:has-text('Save')").click()
    sent = [{"type": "save_city", "payload": {"from": "card", "city": "Lyon"}}]
    assert await page.evaluate("() => window.sent") == sent
    assert tab.errors == []


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_table_widgets_render_from_their_json(
    browser: Browser, quick_demo: RunningProcess, scheme: Literal["light", "dark"]
) -> None:
    page = await browser.new_page(viewport={"width": 768, "height": 1024}, color_scheme=scheme)
    tab = Playground(page, quick_demo.base_url)
    await tab.open()
    await page.evaluate(
        """async ([widget, scheme]) => {
            const widgets = await import("/playground/widgets.js");
            widgets.setColorScheme(scheme);
            const item = document.createElement("article");
            item.className = "item item-widget";
            item.append(widgets.renderWidget(widget, { onAction: () => {} }));
            document.querySelector("#start-screen").hidden = true;
            const messages = document.querySelector("#messages");
            messages.hidden = false;
            messages.append(item);
        }""",
        [TABLE_WIDGET, scheme],
    )
    table = page.locator(".widget table.w-table")
    assert await table.locator("thead th").all_inner_texts() == ["Region", "Sales"]
    assert await table.locator("tbody tr").count() == 2
    assert await table.locator("tbody td").all_inner_texts() == ["North", "1,204", "total 1,204"]
    assert await table.locator("tbody td").nth(2).get_attribute("colspan") == "2"
    assert await table.locator("thead th").nth(1).evaluate("(el) => el.style.textAlign") == "end"
    themed = page.locator(".widget .w-text", has_text="Themed")
    expected = "rgb(17, 34, 51)" if scheme == "light" else "rgb(221, 238, 255)"
    assert await themed.evaluate("(el) => getComputedStyle(el).color") == expected
    assert await page.evaluate("document.documentElement.dataset.colorScheme") == scheme
    await tab.screenshot(f"13-table-widget-{scheme}.png")
    assert tab.errors == []


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", list(SIZES))
async def test_screenshots_at_each_size_and_colour_scheme(
    browser: Browser, quick_demo: RunningProcess, size: str, scheme: Literal["light", "dark"]
) -> None:
    width, height = SIZES[size]
    page = await browser.new_page(viewport={"width": width, "height": height}, color_scheme=scheme)
    tab = Playground(page, quick_demo.base_url)
    await tab.open()
    assert await page.evaluate("document.documentElement.dataset.colorScheme") == scheme
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"20-start-{size}-{scheme}.png"))
    await tab.send("How does the playground look?")
    await tab.settle()
    # Nothing sticks out sideways at any size; a code block wider than the screen scrolls inside.
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    code = page.locator(".assistant-text pre")
    box = await code.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width
    fits = await code.evaluate("(el) => el.scrollWidth <= el.clientWidth")
    scrolls = await code.evaluate("(el) => { el.scrollLeft = 40; return el.scrollLeft > 0; }")
    assert fits or scrolls
    await code.evaluate("(el) => { el.scrollLeft = 0; }")
    await page.screenshot(path=str(ARTIFACTS / f"21-answer-{size}-{scheme}.png"))
    await page.evaluate("() => { document.querySelector('#messages').scrollTop = 0; }")
    await page.screenshot(path=str(ARTIFACTS / f"22-answer-top-{size}-{scheme}.png"))
    assert tab.errors == []


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


@pytest.fixture(scope="module")
def finishing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    """`chatkit serve` with `--disconnect-policy finish`: an answer goes on when its page leaves."""
    workdir = tmp_path_factory.mktemp("browser-finish")
    port = free_port()
    args = ["serve", "tests.demo.sample_servers:make_slow_server", "--disconnect-policy", "finish", "--port", str(port)]
    running = start_process(args, cwd=workdir, port=port, log=workdir / "serve.log")
    yield running
    running.stop()


DETACHED = "Stopped following this answer; it goes on on the server."
COUNTED = " ".join(f"word{n}" for n in range(1, SLOW_WORDS + 1))
COUNT_LENGTH = """() => { const texts = [...document.querySelectorAll(".item-assistant_message .assistant-text")];
    return texts.at(-1)?.innerText.length ?? 0; }"""


async def counting_past(tab: Playground, length: int) -> None:
    """Wait until the page shows the count past `length` characters while it still streams."""
    await tab.page.wait_for_function(
        f"(n) => document.body.dataset.streaming === 'true' && ({COUNT_LENGTH})() > n", arg=length
    )


async def assert_counted_once(tab: Playground) -> None:
    """The answer ended complete: the intro and the whole count, each once, unmarked, after one message."""
    page = tab.page
    assert await page.locator(".item-user_message").count() == 1
    assert await tab.answer_texts() == [SLOW_INTRO, COUNTED]
    assert await page.locator(".stopped-mark").count() == 0
    assert await page.locator(".item-stopped_note").count() == 0


async def test_a_reload_resumes_the_running_answer(browser: Browser, finishing_server: RunningProcess) -> None:
    tab = await playground(browser, finishing_server)
    page = tab.page
    await tab.send("Count for me")
    await counting_past(tab, 60)
    # The server finishes answers its page left; its stop route still stops one at once.
    assert await page.get_attribute("#stop", "title") == "Stop"
    await tab.reload()
    # The page asks for the running turn and shows it go on, from where the server has it.
    await page.wait_for_selector("body[data-rejoined=true]")
    shown = await page.evaluate(COUNT_LENGTH)
    await counting_past(tab, shown + 40)
    stop = page.locator("#stop")
    assert await stop.get_attribute("title") == "Stop"
    await tab.screenshot("20-rejoined-after-reload.png")
    await tab.settle()
    await assert_counted_once(tab)
    assert await page.get_attribute("body", "data-rejoined") == "false"
    assert await stop.is_hidden()
    # Once the turn is over a reload finds nothing running and shows the saved thread.
    await tab.reload()
    assert await page.get_attribute("body", "data-streaming") == "false"
    await assert_counted_once(tab)
    assert tab.errors == []


async def test_another_tab_follows_and_leaving_only_detaches(
    browser: Browser, finishing_server: RunningProcess
) -> None:
    first = await playground(browser, finishing_server)
    await first.send("Count for two tabs")
    await counting_past(first, 30)
    thread_id = await first.page.evaluate("decodeURIComponent(location.hash.slice(1))")

    second = Playground(await browser.new_page(viewport={"width": 1200, "height": 900}), finishing_server.base_url)
    await second.open(f"/#{thread_id}")
    page = second.page
    await page.wait_for_selector("body[data-rejoined=true]")
    await counting_past(second, await page.evaluate(COUNT_LENGTH) + 30)

    # Away to a new chat: the page stops following, the answer goes on (the first tab sees it grow).
    await page.evaluate("() => { location.hash = ''; }")
    await page.wait_for_selector("#start-screen:not([hidden])")
    await counting_past(first, await first.page.evaluate(COUNT_LENGTH) + 30)
    # And back by the address: the page follows the answer again, live.
    await page.evaluate("(id) => { location.hash = id; }", thread_id)
    await page.wait_for_selector("body[data-rejoined=true]")
    await counting_past(second, await page.evaluate(COUNT_LENGTH) + 30)
    await second.screenshot("21-second-tab-following.png")

    await first.settle()
    await second.settle()
    await assert_counted_once(first)
    await assert_counted_once(second)
    assert first.errors == [] and second.errors == []


async def test_stop_in_a_second_tab_stops_the_answer_under_finish(
    browser: Browser, finishing_server: RunningProcess
) -> None:
    first = await playground(browser, finishing_server)
    await first.send("Count, and stop me from elsewhere")
    await counting_past(first, 30)
    thread_id = await first.page.evaluate("decodeURIComponent(location.hash.slice(1))")
    second = Playground(await browser.new_page(viewport={"width": 1200, "height": 900}), finishing_server.base_url)
    await second.open(f"/#{thread_id}")
    await second.page.wait_for_selector("body[data-rejoined=true]")
    await counting_past(second, 60)

    # The stop button sends the stop route: the answer stops on the server, not only on this page.
    await second.page.click("#stop")
    await second.settle()
    await first.settle()
    assert await second.page.locator(".item-assistant_message .stopped-mark").count() == 1
    stopped_at = await first.page.evaluate(COUNT_LENGTH)
    await first.page.wait_for_timeout(500)
    assert await first.page.evaluate(COUNT_LENGTH) == stopped_at
    await first.reload()
    texts = await first.answer_texts()
    assert texts[0] == SLOW_INTRO and COUNTED.startswith(texts[1]) and texts[1] != COUNTED
    assert first.errors == [] and second.errors == []


async def test_stop_under_finish_stops_the_answer_and_keeps_what_was_shown(
    browser: Browser, finishing_server: RunningProcess
) -> None:
    tab = await playground(browser, finishing_server)
    page = tab.page
    await tab.send("Count, and let me stop")
    await counting_past(tab, 40)
    await page.click("#stop")
    await tab.settle()
    shown = (await tab.answer_texts())[-1]
    assert await page.locator(".item-assistant_message .stopped-mark").count() == 1
    assert await page.get_by_text(DETACHED).count() == 0
    await tab.screenshot("22-stopped-under-finish.png")
    # Nothing runs on the thread any more: a reload finds no answer to rejoin, only the saved part.
    await tab.reload()
    await page.wait_for_timeout(300)
    assert await page.get_attribute("body", "data-rejoined") == "false"
    saved = (await tab.answer_texts())[-1]
    assert saved.startswith(shown) and saved != COUNTED
    # Stopped stays stopped: the reloaded page marks the answer as the page that stopped it did.
    await page.wait_for_selector(".item-assistant_message .stopped-mark")
    assert await page.locator(".stopped-mark").count() == 1
    assert tab.errors == []


async def test_a_server_that_dies_mid_answer_is_named_with_a_retry(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("browser-dies")
    port = free_port()
    args = ["serve", "tests.demo.sample_servers:make_slow_server", "--port", str(port)]
    running = start_process(args, cwd=workdir, port=port, log=workdir / "serve.log")
    try:
        tab = await playground(browser, running)
        page = tab.page
        await tab.send("Count until I die")
        await counting_past(tab, 30)
        running.process.kill()
        await tab.settle()
        banner = page.locator("#banner")
        message = await banner.locator(".banner-message").inner_text()
        assert message == "The connection to the server was lost in the middle of the answer."
        assert await banner.locator(".banner-action", has_text="Retry").count() == 1
        # The message reached the server: it is in the thread, not back in the composer.
        assert await page.input_value("#composer-input") == ""
        # Only the browser's own note of the cut response.
        assert [error for error in tab.errors if "ERR_INCOMPLETE_CHUNKED_ENCODING" not in error] == []
    finally:
        running.stop()
