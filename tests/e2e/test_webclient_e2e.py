"""The web client at `/` in a real headless Chromium: two people (two browser contexts) chat end to end.

Sign-up, a workspace, an invite link, live messages both ways, a thread reply, a reaction, an edit, a delete,
a pin, typing seen by the other, a direct message, a mention badge, search; then one user's socket is cut,
messages are sent and changed while they are away, and they appear after the reconnect without a reload.
Screenshots of the main views go to tests/e2e/screenshots/ (git-ignored) for a reviewer to look at.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import PASSWORD, unique_name
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parent / "screenshots"
WAIT_MS = 15_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer.start(tmp_path / "web", presence_sweep_seconds="0.2")
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    assert CHROMIUM is not None, "Chromium is missing: scripts/test installs Debian's chromium package"
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


class Person:
    """One user in their own browser context, with the page's console errors collected."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = name
        self.errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def message(self, text: str, where: str = "#messages") -> Any:
        return self.page.locator(f"{where} li.msg", has_text=text)

    async def act(self, text: str, action: str) -> None:
        item = self.message(text)
        await item.hover()
        await item.get_by_role("button", name=action, exact=True).click()

    async def send(self, text: str, box: str = "#composer-input") -> None:
        await self.page.fill(box, text)
        await self.page.press(box, "Enter")

    async def shot(self, name: str) -> None:
        SHOTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(SHOTS / f"{name}.png"))


async def sign_up(browser: Any, url: str, prefix: str, **context: Any) -> Person:
    from playwright.async_api import expect

    page = await (await browser.new_context(**context)).new_page()
    person = Person(page, unique_name(prefix)[:20])
    await page.goto(url)
    if await page.locator("#signup-fields").is_hidden():
        await page.click("#auth-toggle")
    await page.fill("#auth-login", person.name)
    await page.fill("#auth-email", f"{person.name}@example.com")
    await page.fill("#auth-display", prefix.capitalize())
    await page.fill("#auth-password", PASSWORD)
    await page.click("#auth-submit")
    await expect(page.locator("#conn-status")).to_have_text("Connected", timeout=WAIT_MS)
    return person


async def test_two_people_chat_in_the_browser(server: LiveServer, browser: Any) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=WAIT_MS)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        home = await http.get("/")
        assert home.status_code == 200 and "script-src 'self'" in home.headers["content-security-policy"]

    alice = await sign_up(browser, server.base_url, "alice", viewport={"width": 1280, "height": 800})
    a = alice.page
    await a.click("#ws-new")
    await a.fill("#dlg-input", "Web team " + unique_name("w")[-4:])
    await a.click("#dlg-ok")
    await expect(a.locator("#dlg")).to_be_hidden()
    await expect(a.locator("#conv-title")).to_have_text("# general")
    await a.click("#invite-btn")
    await expect(a.locator("#dlg-input")).to_have_value(re.compile("#join="))
    link = await a.input_value("#dlg-input")
    await a.click("#dlg-ok")
    assert "#join=" in link

    # Bob opens the invite link, signs up, and lands in the workspace.
    bob = await sign_up(browser, link, "bob", viewport={"width": 1280, "height": 800})
    b = bob.page
    await expect(b.locator("#conv-title")).to_have_text("# general")
    await expect(a.locator("#members")).to_contain_text(bob.name)

    # Live both ways.
    await alice.send("hello bob")
    await expect(bob.message("hello bob")).to_be_visible()
    await bob.send("hi alice")
    await expect(alice.message("hi alice")).to_be_visible()
    await expect(alice.message("hi alice")).not_to_have_class("msg pending")

    # Typing is seen by the other.
    await b.fill("#composer-input", "typing something")
    await expect(a.locator("#typing")).to_contain_text("Bob is typing")
    await b.fill("#composer-input", "")

    # Thread reply, seen in the other's thread panel.
    await alice.act("hi alice", "Reply in thread")
    await expect(a.locator("#thread")).to_be_visible()
    await alice.send("a reply in the thread", "#thread-input")
    await expect(alice.message("a reply in the thread", "#thread-messages")).to_be_visible()
    await expect(bob.message("hi alice").get_by_role("button", name="1 reply")).to_be_visible()
    await bob.message("hi alice").get_by_role("button", name="1 reply").click()
    await expect(bob.message("a reply in the thread", "#thread-messages")).to_be_visible()
    await bob.shot("thread")
    await b.click("#thread-close")
    await expect(bob.message("a reply in the thread")).to_have_count(0)  # replies stay out of the channel list

    # Reaction, edit, pin, delete.
    await bob.act("hello bob", "React")
    await bob.message("hello bob").get_by_role("button", name="React 🎉").click()
    await expect(alice.message("hello bob").locator(".reaction")).to_have_text("🎉 1")
    await alice.act("hello bob", "Edit")
    await a.fill("#dlg-input", "hello bob, edited")
    await a.click("#dlg-ok")
    await expect(bob.message("hello bob, edited")).to_contain_text("(edited)")
    await alice.act("hello bob, edited", "Pin")
    await expect(bob.message("hello bob, edited")).to_contain_text("pinned")
    await bob.send("to be deleted")
    await expect(alice.message("to be deleted")).to_be_visible()
    await bob.act("to be deleted", "Delete")
    await b.click("#dlg-ok")
    await expect(alice.message("This message was deleted.")).to_be_visible()
    await alice.shot("channel")

    # A direct message; meanwhile a mention in #general shows as a badge.
    await b.locator("#members button", has_text="Alice").click()
    await expect(b.locator("#conv-title")).to_have_text(f"@ {alice.name}")
    await bob.send("psst, a secret")
    dm_link = a.locator("#dms button", has_text="Bob")
    await expect(dm_link.locator(".badge")).to_have_text("1")
    await alice.send(f"@{bob.name} look at general")
    await expect(b.locator("#channels button", has_text="general").locator(".badge")).to_have_text("@1")
    await dm_link.click()
    await expect(alice.message("psst, a secret")).to_be_visible()
    await alice.shot("direct-message")

    # Search.
    await b.fill("#search-input", "edited")
    await b.press("#search-input", "Enter")
    await expect(b.locator("#side-list")).to_contain_text("hello bob, edited")
    await b.click("#side-close")

    # Cut Bob's socket; messages are sent and changed while he is away; he catches up without a reload.
    await b.locator("#channels button", has_text="general").click()
    await expect(bob.message("look at general")).to_be_visible()
    await expect(b.locator("#channels .badge")).to_have_count(0)  # read once opened
    await cut_and_catch_up(alice, bob)

    # Phone-sized: the channel list is a drawer behind the menu button.
    phone = await sign_in_on_phone(browser, server.base_url, bob.name)
    await expect(phone.locator("#sidebar")).not_to_be_in_viewport()
    await phone.click("#menu-btn")
    await expect(phone.locator("#sidebar")).to_be_in_viewport()
    await phone.locator("#channels button", has_text="general").click()
    await expect(phone.locator("#messages li.msg", has_text="sent while bob was away")).to_be_visible()
    await expect(phone.locator("#sidebar")).not_to_be_in_viewport()
    await phone.screenshot(path=str(SHOTS / "phone.png"))

    assert alice.errors == [] and bob.errors == [], (alice.errors, bob.errors)


async def cut_and_catch_up(alice: Person, bob: Person) -> None:
    from playwright.async_api import expect

    a, b = alice.page, bob.page
    # Re-open Bob's page with his socket routed through the test, so it can be cut and restored at will.
    blocked = {"on": False}
    sockets: list[Any] = []

    async def route(ws: Any) -> None:
        if blocked["on"]:
            await ws.close()
            return
        ws.connect_to_server()
        sockets.append(ws)

    await b.route_web_socket("**/socket.io/**", route)
    await b.reload()
    await expect(b.locator("#conn-status")).to_have_text("Connected")
    await expect(bob.message("look at general")).to_be_visible()

    blocked["on"] = True
    for ws in sockets:
        await ws.close()
    await expect(b.locator("#conn-status")).to_have_text("Reconnecting…")
    await expect(b.locator("#banner")).to_be_visible()
    await bob.shot("reconnecting")

    await a.locator("#channels button", has_text="general").click()
    await alice.send("sent while bob was away")
    await alice.send("also sent while away")
    await expect(alice.message("also sent while away")).not_to_have_class("msg pending")
    await alice.act("look at general", "Edit")
    await a.fill("#dlg-input", "look at general (changed while away)")
    await a.click("#dlg-ok")
    await expect(bob.message("sent while bob was away")).to_have_count(0)

    blocked["on"] = False
    await expect(b.locator("#conn-status")).to_have_text("Connected", timeout=30_000)
    await expect(b.locator("#banner")).to_be_hidden()
    await expect(bob.message("sent while bob was away")).to_be_visible()
    await expect(bob.message("also sent while away")).to_be_visible()
    await expect(bob.message("look at general (changed while away)")).to_be_visible()
    # The order is the channel's order.
    texts = await b.locator("#messages li.msg .content").all_text_contents()
    assert texts.index("sent while bob was away") < texts.index("also sent while away")
    # And live delivery goes on.
    await alice.send("live again")
    await expect(bob.message("live again")).to_be_visible()
    await bob.shot("caught-up")


async def sign_in_on_phone(browser: Any, url: str, login: str) -> Any:
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 390, "height": 760}, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.goto(url)
    await page.fill("#auth-login", login)
    await page.fill("#auth-password", PASSWORD)
    await page.click("#auth-submit")
    await expect(page.locator("#conn-status")).to_have_text("Connected")
    return page
