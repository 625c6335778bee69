"""The web client at `/` in a real headless Chromium: two people (two browser contexts) chat end to end.

Sign-up, a workspace, an invite link, scrolling back through a long history, live messages both ways, a thread
reply, a reaction, an edit, a delete, a pin, typing seen by the other, an image with its thumbnail, a direct
message, a mention badge, search; then one user's socket is cut, messages are sent and changed while they are
away (and theirs waits as pending), and it all appears after the reconnect without a reload; then the server
restarts and chat goes on. Screenshots of the main views go to tests/e2e/screenshots/ (git-ignored).
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.clients import PASSWORD, bearer, register, unique_name
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parent / "screenshots"
LIBRARY = Path(__file__).resolve().parents[2] / "clients" / "js" / "src" / "connectnow.js"
WAIT_MS = 15_000
HISTORY = 120  # messages seeded before Bob joins: more than two pages of 50


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (47, 111, 237)).save(out, format="PNG")
    return out.getvalue()


async def seed_history(server: LiveServer, invite_link: str, count: int) -> None:
    """A third member (over REST, like a bot) posts `count` numbered messages to #general."""
    code = invite_link.split("#join=", 1)[1]
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        user = await register(http, unique_name("seed"))
        auth = bearer(user["accessToken"])
        joined = await http.post("/api/v1/workspaces/join", json={"code": code}, headers=auth)
        assert joined.status_code == 200, joined.text
        channels = (await http.get(f"/api/v1/workspaces/{joined.json()['id']}/channels", headers=auth)).json()
        general = next(c for c in channels if c["isDefault"])
        for i in range(1, count + 1):
            sent = await http.post(
                f"/api/v1/channels/{general['id']}/messages",
                json={"content": f"history {i:03d}", "clientMsgId": f"seed-{i}"},
                headers=auth,
            )
            assert sent.status_code == 201, sent.text


async def scroll_back_to(person: Person, text: str) -> None:
    """Scroll the message list up (mouse wheel) until `text` is loaded: infinite scroll back through history."""
    target = person.message(text)
    await person.page.hover("#messages")
    for _ in range(40):
        if await target.count():
            break
        await person.page.mouse.wheel(0, -5000)
        await person.page.wait_for_timeout(250)
    await target.scroll_into_view_if_needed()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    # Sends are not rate-limited here: the test seeds a long history to scroll back through.
    live = LiveServer.start(
        tmp_path / "web", presence_sweep_seconds="0.2", rate_send_burst="1000", rate_send_per_second="1000"
    )
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
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _console(self, msg: Any) -> None:
        # Chromium itself logs failed socket attempts while the server is down or the socket is cut: expected.
        # Anything else (a script error, a CSP refusal) is a failure.
        if msg.type == "error" and "net::ERR_" not in msg.text and "WebSocket connection to" not in msg.text:
            self.errors.append(msg.text)

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


@pytest.mark.slow
async def test_two_people_chat_in_the_browser(server: LiveServer, browser: Any) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=WAIT_MS)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        home = await http.get("/")
        csp = home.headers["content-security-policy"]
        assert home.status_code == 200 and "script-src 'self'" in csp and "unsafe" not in csp

    alice = await sign_up(browser, server.base_url, "alice", viewport={"width": 1280, "height": 800})
    a = alice.page
    await a.click("#ws-new")
    team = "Web team " + unique_name("w")[-4:]
    await a.fill("#dlg-input", team)
    await a.click("#dlg-ok")
    await expect(a.locator("#dlg")).to_be_hidden()
    await expect(a.locator("#conv-title")).to_have_text("# general")
    await a.click("#invite-btn")
    await expect(a.locator("#dlg-input")).to_have_value(re.compile("#join="))
    link = await a.input_value("#dlg-input")
    await a.click("#dlg-ok")
    assert "#join=" in link

    await seed_history(server, link, HISTORY)

    # Bob opens the invite link, signs up, and lands in the workspace; he scrolls back to the first message.
    bob = await sign_up(browser, link, "bob", viewport={"width": 1280, "height": 800})
    b = bob.page
    await expect(b.locator("#conv-title")).to_have_text("# general")
    await expect(bob.message(f"history {HISTORY:03d}")).to_be_visible()
    await scroll_back_to(bob, "history 001")
    await expect(b.locator("#history-status")).to_have_text("This is the beginning of the conversation.")
    await b.locator("#composer-input").focus()
    await expect(a.locator("#members")).to_contain_text(bob.name)

    # Live both ways.
    await alice.send("hello bob")
    await expect(bob.message("hello bob")).to_be_visible()
    await bob.send("hi alice")
    await expect(alice.message("hi alice")).to_be_visible()
    await expect(alice.message("hi alice")).not_to_have_class("msg pending")

    # Text is text: markup in a message is shown, never run or parsed.
    markup = '<img src=x id=injected onerror="document.title=1"><b>bold?</b>'
    await alice.send(markup)
    await expect(bob.message("bold?").locator(".content")).to_have_text(markup)
    await expect(b.locator("#injected")).to_have_count(0)
    await expect(bob.message("bold?").locator("b")).to_have_count(0)

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

    # An image: upload progress, then a thumbnail for the other.
    await a.set_input_files("#file-input", files=[{"name": "dot.png", "mimeType": "image/png", "buffer": png()}])
    await expect(a.locator("#uploads")).to_contain_text("ready")
    await alice.send("a picture")
    thumb = bob.message("a picture").locator("img.thumb")
    await expect(thumb).to_have_attribute("alt", "dot.png")
    await expect(thumb).to_have_attribute("src", re.compile("^blob:"))

    # A direct message; meanwhile a mention in #general shows as a badge.
    await b.locator("#members button", has_text="Alice").click()
    await expect(b.locator("#conv-title")).to_have_text(f"@ {alice.name}")
    await expect(b.locator("#conv-topic")).to_have_text("online")
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

    # A second workspace: Bob creates it, Alice joins with the bare code, both switch back.
    await b.click("#ws-new")
    await b.fill("#dlg-input", "Bob space")
    await b.click("#dlg-ok")
    await expect(b.locator("#ws-select option")).to_have_count(2)
    await expect(b.locator("#ws-select option:checked")).to_have_text("Bob space")
    await b.click("#invite-btn")
    await expect(b.locator("#dlg-input")).to_have_value(re.compile("#join="))
    code = (await b.input_value("#dlg-input")).split("#join=", 1)[1]
    await b.click("#dlg-ok")
    await a.click("#ws-join")
    await a.fill("#dlg-input", code)
    await a.click("#dlg-ok")
    await expect(a.locator("#ws-select option:checked")).to_have_text("Bob space")
    await expect(a.locator("#conv-title")).to_have_text("# general")
    for page in (a, b):
        await page.select_option("#ws-select", label=team)
        await expect(page.locator("#members")).to_contain_text("Seed")

    # Cut Bob's socket; messages are sent and changed while he is away; he catches up without a reload.
    await b.locator("#channels button", has_text="general").click()
    await expect(bob.message("look at general")).to_be_visible()
    await expect(b.locator("#channels .badge")).to_have_count(0)  # read once opened
    await cut_and_catch_up(alice, bob)

    # The server restarts on the same data and port: both pages reconnect by themselves.
    await asyncio.to_thread(server.restart)
    for page in (a, b):
        await expect(page.locator("#conn-status")).to_have_text("Connected", timeout=30_000)
    await alice.send("after the restart")
    await expect(bob.message("after the restart")).to_be_visible()

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
    await bob.send("queued while offline")
    await expect(bob.message("queued while offline")).to_have_class(re.compile(r"\bpending\b"))
    await expect(bob.message("queued while offline")).to_contain_text("Sending…")

    blocked["on"] = False
    await expect(b.locator("#conn-status")).to_have_text("Connected", timeout=30_000)
    await expect(b.locator("#banner")).to_be_hidden()
    await expect(bob.message("sent while bob was away")).to_be_visible()
    await expect(bob.message("also sent while away")).to_be_visible()
    await expect(bob.message("look at general (changed while away)")).to_be_visible()
    # The order is the channel's order.
    texts = await b.locator("#messages li.msg .content").all_text_contents()
    assert texts.index("sent while bob was away") < texts.index("also sent while away")
    # What Bob wrote while away went out once he was back.
    await expect(bob.message("queued while offline")).not_to_have_class(re.compile(r"\bpending\b"))
    await expect(alice.message("queued while offline")).to_be_visible()
    # And live delivery goes on.
    await alice.send("live again")
    await expect(bob.message("live again")).to_be_visible()
    await bob.shot("caught-up")


async def test_phone_sized_viewport(server: LiveServer, browser: Any) -> None:
    """On a phone the channel list is a drawer behind the menu button; the conversation fills the screen."""
    from playwright.async_api import expect

    expect.set_options(timeout=WAIT_MS)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        user = await register(http, unique_name("ph"))
        auth = bearer(user["accessToken"])
        ws = (
            await http.post("/api/v1/workspaces", json={"name": "Phone " + unique_name("p")[-4:]}, headers=auth)
        ).json()
        await http.post(f"/api/v1/workspaces/{ws['id']}/channels", json={"name": "random"}, headers=auth)
    person = Person(
        await (
            await browser.new_context(viewport={"width": 390, "height": 760}, is_mobile=True, has_touch=True)
        ).new_page(),
        user["user"]["username"],
    )
    page = person.page
    await page.goto(server.base_url)
    await page.fill("#auth-login", person.name)
    await page.fill("#auth-password", PASSWORD)
    await page.click("#auth-submit")
    await expect(page.locator("#conn-status")).to_have_text("Connected")
    await expect(page.locator("#conv-title")).to_have_text("# general")
    await expect(page.locator("#sidebar")).not_to_be_in_viewport()
    await page.click("#menu-btn")
    await expect(page.locator("#menu-btn")).to_have_attribute("aria-expanded", "true")
    await expect(page.locator("#sidebar")).to_be_in_viewport(ratio=0.9)
    await person.shot("phone-drawer")
    await page.locator("#channels button", has_text="random").click()
    await expect(page.locator("#conv-title")).to_have_text("# random")
    await expect(page.locator("#sidebar")).not_to_be_in_viewport()
    await person.send("hello from a phone")
    await expect(person.message("hello from a phone")).not_to_have_class(re.compile(r"\bpending\b"))
    await person.shot("phone")
    assert person.errors == [], person.errors


async def test_page_and_assets_are_served_safely(http: httpx.AsyncClient) -> None:
    """`/` and its files come from the package; the library served is clients/js's own file, not a copy."""
    page = await http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert "<script>" not in page.text and "style=" not in page.text  # nothing inline
    library = await http.get("/app/connectnow.js")
    assert library.headers["content-type"].startswith("text/javascript")
    assert library.content == LIBRARY.read_bytes()
    for name in ("app.js", "app.css", "socket.io.min.js"):
        asset = await http.get(f"/app/{name}")
        assert asset.status_code == 200 and asset.headers["x-content-type-options"] == "nosniff", name
    assert (await http.get("/app/../pyproject.toml")).status_code == 404
    assert (await http.get("/app/index.html.bak")).status_code == 404
