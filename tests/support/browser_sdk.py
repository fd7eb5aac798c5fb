"""Drives the official `@twilio/conversations` SDK in real Chromium, with the interface of `SdkDriver`.

Each named client lives in its own browser context (its own page, cookies, sessionStorage and network, so one can
go offline alone). A page is a page of the bridge (its `/health`, so the socket's Origin is the bridge's own)
with the SDK's UMD browser bundle and tests/chat_sdk/browser_driver.js injected; the page half mirrors driver.js,
so a test's JS snippets run unchanged under either driver:

    with BrowserSdkDriver(live.url + "/health") as driver:
        driver.connect("alice", token, "ws://127.0.0.1:8081/v3/wsconnect")
        driver.run("alice", "async (client) => client.getSubscribedConversations()")
        driver.wait_event("alice", "messageAdded", lambda m: m["body"] == "hi")

Playwright's sync API is single-threaded: use a driver from the thread that made it. Events reach Python through
a binding, delivered whenever Playwright is working (a call, or `wait_event`'s polling).
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS, missing_reason
from tests.support.sdk_driver import CHAT_SDK_DIR, Predicate, SdkDriverError, SdkError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, WebSocket

SDK_BUNDLE = CHAT_SDK_DIR / "node_modules" / "@twilio" / "conversations" / "builds" / "twilio-conversations.min.js"
BROWSER_DRIVER_JS = CHAT_SDK_DIR / "browser_driver.js"
SDK_VALUES_JS = CHAT_SDK_DIR / "sdk_values.js"  # the serialisers and helpers both drivers share
EVENT_BINDING = "__sdkDriverEvent"
POLL_MS = 20


def browser_unavailable_reason() -> str | None:
    """Why the browser driver cannot run here, or None when it can."""
    if missing_reason() is not None:
        return missing_reason()
    if not SDK_BUNDLE.is_file():
        return f"{SDK_BUNDLE} is missing: run scripts/setup test (it runs npm ci in tests/chat_sdk)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed in the venv"
    return None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class Frame:
    """One WebSocket frame a client's page sent or received (a twilsock frame: gateway.frames.decode reads it)."""

    direction: str  # "sent" or "received"
    url: str
    payload: str | bytes


@dataclass
class Tab:
    """A browser context with its one page, and the client it hosts (None while it hosts none)."""

    context: BrowserContext
    page: Page
    client: str | None = None


class BrowserSdkDriver:
    """Chromium under Playwright and the SDK clients its pages host. Use as a context manager, from one thread."""

    def __init__(self, page_url: str, console_lines: int = 2000) -> None:
        reason = browser_unavailable_reason()
        if reason is not None:
            raise SdkDriverError(reason)
        from playwright.sync_api import sync_playwright

        self.page_url = page_url
        # Named, so stack traces in the console say which script failed.
        self._sdk_source = SDK_BUNDLE.read_text() + f"\n//# sourceURL={SDK_BUNDLE.name}\n"
        self._driver_source = "".join(
            path.read_text() + f"\n//# sourceURL={path.name}\n" for path in (SDK_VALUES_JS, BROWSER_DRIVER_JS)
        )
        self._events: dict[str | None, list[dict[str, Any]]] = {}
        self._console: deque[str] = deque(maxlen=console_lines)
        self._frames: dict[str, list[Frame]] = {}
        self._console_by_client: dict[str, list[str]] = {}
        self._tabs: dict[str, Tab] = {}  # by client name, while the client (or its reloaded page) is in use
        self._idle: list[Tab] = []  # tabs whose client shut down, ready for the next one
        self._closed = False
        self._playwright: Playwright = sync_playwright().start()
        try:
            self.browser: Browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception:
            self._playwright.stop()
            raise

    # ---- context manager --------------------------------------------------------------------------------------

    def __enter__(self) -> BrowserSdkDriver:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- tabs -------------------------------------------------------------------------------------------------

    def _record(self, _source: Any, payload: Any) -> None:
        if isinstance(payload, dict) and "event" in payload:
            self._events.setdefault(payload.get("client"), []).append(payload)
        else:
            self._console.append(f"[binding, unexpected] {json.dumps(payload)[:500]}")

    def _new_tab(self) -> Tab:
        context = self.browser.new_context()
        context.expose_binding(EVENT_BINDING, self._record)
        page = context.new_page()
        tab = Tab(context, page)
        page.on("console", lambda m: self._log(tab, f"[{m.type}] {m.text}"))
        page.on("pageerror", lambda e: self._log(tab, f"[pageerror] {e}"))
        page.on("websocket", lambda socket: self._watch(tab, socket))
        return tab

    def _log(self, tab: Tab, line: str) -> None:
        self._console.append(f"{tab.client or '(no client)'}: {line}")
        if tab.client is not None:
            self._console_by_client.setdefault(tab.client, []).append(line)

    def _watch(self, tab: Tab, socket: WebSocket) -> None:
        owner = tab.client  # the client that opened it; the socket dies with that client
        if owner is None:
            return

        def record(direction: str) -> Callable[[str | bytes], None]:
            return lambda payload: self._frames.setdefault(owner, []).append(Frame(direction, socket.url, payload))

        socket.on("framesent", record("sent"))
        socket.on("framereceived", record("received"))

    def _load(self, tab: Tab, page_url: str) -> None:
        """Readies the tab for its next client: online, with a clean sessionStorage, on `page_url` with the SDK and
        the driver loaded. A page already there is kept (loading the bundle is most of a connect's time), as an app
        that signs one user out and the next in keeps its page."""
        tab.context.set_offline(False)
        if origin_of(tab.page.url) == origin_of(page_url):
            tab.page.evaluate("() => sessionStorage.clear()")  # the tab's storage outlives its pages
        if tab.page.url != page_url or not self._driver_loaded(tab.page):
            tab.page.goto(page_url)
            self.inject(tab.page)

    @staticmethod
    def _driver_loaded(page: Page) -> bool:
        return bool(page.evaluate("() => typeof window.__sdkDriver === 'object'"))

    def inject(self, page: Page) -> None:
        """Adds the SDK's bundle and browser_driver.js to the page (after a navigation or a reload)."""
        page.add_script_tag(content=self._sdk_source)
        page.add_script_tag(content=self._driver_source)
        if not self._driver_loaded(page):
            raise SdkDriverError(self._failure(f"the driver did not load in {page.url}"))

    def _tab(self, name: str) -> Tab:
        tab = self._tabs.get(name)
        if tab is None:
            raise SdkError(f"no client named {json.dumps(name)}")
        return tab

    def page(self, name: str) -> Page:
        """The page hosting client `name` (to reload it, watch its WebSocket, read its storage)."""
        return self._tab(name).page

    def context(self, name: str) -> BrowserContext:
        """The browser context of client `name` (`set_offline` takes the whole context off the network)."""
        return self._tab(name).context

    # ---- requests ---------------------------------------------------------------------------------------------

    def console_tail(self, lines: int = 200) -> str:
        """The last `lines` lines the pages (and the SDK's logger) wrote to their consoles."""
        return "\n".join(list(self._console)[-lines:])

    stderr_tail = console_tail  # SdkDriver's name for its diagnostics

    def _failure(self, what: str) -> str:
        return f"{what}\n--- browser console (tail) ---\n{self.console_tail()}"

    def _call(self, tab: Tab, op: str, **fields: Any) -> Any:
        if self._closed:
            raise SdkDriverError(f"cannot send {op}: the driver is closed")
        from playwright.sync_api import Error as PlaywrightError

        try:
            response = tab.page.evaluate("([op, cmd]) => window.__sdkDriver.call(op, cmd)", [op, fields])
        except PlaywrightError as error:
            raise SdkDriverError(self._failure(f"{op} failed in the page: {error}")) from error
        if response.get("ok"):
            return response.get("result")
        error = response.get("error") or {}
        raise SdkError(
            str(error.get("message", "unknown error")), code=error.get("code"), status=error.get("status"),
            stack=str(error.get("stack") or ""), name=str(error.get("name") or "Error"),
        )  # fmt: skip

    def connect(
        self, name: str, token: str, uri: str, timeout: float = 20.0, *, keep_on_failure: bool = False,
        page_url: str | None = None, **options: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """As `SdkDriver.connect`, in a page of its own: `new Client(token, {twilsock: {uri}, logLevel: "warn",
        ...options})`, waiting for `stateChanged "initialized"`. The page is `page_url` (default: the driver's),
        or the page `name` had if it was reloaded (see `reload`)."""
        tab = self._tabs.get(name)
        if tab is not None and tab.client is not None:
            raise SdkError(f"a client named {json.dumps(name)} already exists")
        if tab is None:
            tab = self._idle.pop() if self._idle else self._new_tab()
            self._load(tab, page_url or self.page_url)
            self._tabs[name] = tab
        elif page_url is not None and tab.page.url != page_url:
            self._load(tab, page_url)
        tab.client = name
        try:
            result: dict[str, Any] = self._call(
                tab, "connect", name=name, token=token, uri=uri, options=options,
                timeout_ms=int(timeout * 1000), keep_on_failure=keep_on_failure,
            )  # fmt: skip
        except SdkError:
            if not keep_on_failure:
                self._release(name)
            raise
        return result

    def run(self, name: str | None, js_code: str, args: Any = None, timeout: float = 20.0) -> Any:
        """As `SdkDriver.run`: evaluates `async (client, args, h) => {...}` against client `name` in its page and
        returns its result as JSON. `h` is driver.js's, but `h.require` throws (a page has no modules). With
        `name` None the code runs in any page, without a client."""
        tab = self._tab(name) if name is not None else self._any_tab()
        return self._call(tab, "run", name=name, code=js_code, args=args, timeout_ms=int(timeout * 1000))

    def _any_tab(self) -> Tab:
        if self._tabs:
            return next(iter(self._tabs.values()))
        tab = self._idle.pop() if self._idle else self._new_tab()
        self._load(tab, self.page_url)
        self._idle.append(tab)
        return tab

    def set_push_registration_id(self, name: str, channel_type: str, token: str, timeout: float = 20.0) -> None:
        self._call(self._tab(name), "setPushRegistrationId", name=name, channel_type=channel_type, token=token)

    def unset_push_registration_id(self, name: str, channel_type: str, timeout: float = 20.0) -> None:
        self._call(self._tab(name), "unsetPushRegistrationId", name=name, channel_type=channel_type)

    def remove_push_registrations(self, name: str, channel_type: str, token: str, timeout: float = 20.0) -> None:
        self._call(self._tab(name), "removePushRegistrations", name=name, channel_type=channel_type, token=token)

    def shutdown(self, name: str, timeout: float = 10.0) -> None:
        """`await client.shutdown()`; the name is free again afterwards and its page goes back to the pool for the
        next client. Its recorded events are kept. A reloaded page that hosts no client is simply released."""
        tab = self._tab(name)
        try:
            if tab.client is not None:
                self._call(tab, "shutdown", name=name)
        finally:
            self._release(name)

    def _release(self, name: str) -> None:
        tab = self._tabs.pop(name, None)
        if tab is None:
            return
        tab.client = None
        if tab.page.is_closed():
            with contextlib.suppress(Exception):
                tab.context.close()
            return
        self._idle.append(tab)

    def reload(self, name: str) -> Page:
        """Reloads client `name`'s page, as a user pressing F5: the client is gone without a shutdown, the tab's
        sessionStorage stays. The page gets the SDK and the driver again; `connect(name, ...)` connects in it."""
        tab = self._tab(name)
        tab.page.reload()
        tab.client = None
        self.inject(tab.page)
        return tab.page

    def close(self) -> None:
        """Shuts every client down and ends the browser."""
        if self._closed:
            return
        for name in list(self._tabs):
            with contextlib.suppress(Exception):
                self.shutdown(name)
        self._closed = True
        with contextlib.suppress(Exception):
            self.browser.close()
        self._playwright.stop()  # ends Playwright's event loop, so the thread may start another

    # ---- events -----------------------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Lets Playwright deliver the events the pages have sent meanwhile."""
        tab = next(iter(self._tabs.values()), None) or next(iter(self._idle), None)
        if tab is not None and not tab.page.is_closed():
            tab.page.wait_for_timeout(POLL_MS)
        else:
            time.sleep(POLL_MS / 1000)

    def events(self, name: str | None, event: str | None = None) -> list[dict[str, Any]]:
        """Copies of the events recorded for client `name` (`{event, client, data, t}`), optionally of one kind;
        page errors (`driverError`) are recorded under the name None."""
        recorded = self._events.get(name, [])
        return [copy.deepcopy(e) for e in recorded if event is None or e["event"] == event]

    def mark(self, name: str) -> int:
        """The number of events recorded so far for `name`: pass it as `since` to wait only for later ones."""
        return len(self._events.get(name, []))

    def clear_events(self, name: str) -> None:
        """Forgets the events (and the WebSocket frames and console lines) recorded for `name`."""
        self._events.pop(name, None)
        self._frames.pop(name, None)
        self._console_by_client.pop(name, None)

    def console(self, name: str) -> list[str]:
        """What client `name`'s page wrote to its console (the SDK's logger, the browser's own errors)."""
        return list(self._console_by_client.get(name, []))

    def frames(self, name: str) -> list[Frame]:
        """The WebSocket frames client `name`'s page sent and received, in order, over all its sockets."""
        return list(self._frames.get(name, []))

    def wait_event(
        self, name: str, event: str, predicate: Predicate | None = None, timeout: float = 10.0, since: int = 0
    ) -> dict[str, Any]:
        """As `SdkDriver.wait_event`: the first event `event` of client `name` from index `since` on whose data
        satisfies `predicate`; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        checked = since
        while True:
            recorded = self._events.get(name, [])
            for index in range(checked, len(recorded)):
                candidate = recorded[index]
                if candidate["event"] == event and (predicate is None or predicate(candidate["data"])):
                    return copy.deepcopy(candidate)
            checked = max(checked, len(recorded))
            if time.monotonic() >= deadline:
                break
            self._pump()
        recent = "\n".join(json.dumps(e)[:500] for e in self._events.get(name, [])[-30:]) or "(none)"
        raise AssertionError(
            f"no {event} event for client {name!r} matching the predicate (timed out after {timeout}s; "
            f"since={since})\n--- recent events of {name!r} ---\n{recent}\n--- browser console (tail) ---\n"
            f"{self.console_tail()}"
        )
