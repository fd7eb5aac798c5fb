"""Drives the real, unmodified `@twilio/conversations` JavaScript SDK from pytest.

One Node process (`tests/chat_sdk/driver.js`) hosts any number of named SDK clients; this module talks to it over
JSON lines on stdin/stdout. Results go back to the caller that asked; events (`messageAdded`, `typingStarted`, ...)
are kept per client, so a test can wait for one that may already have arrived:

    with SdkDriver() as driver:
        driver.connect("alice", token, "ws://127.0.0.1:8080/v3/wsconnect")
        page = driver.run("alice", "async (client) => client.getSubscribedConversations()")  # {items, hasNextPage...}
        driver.wait_event("alice", "messageAdded", lambda m: m["body"] == "hi")

The Node packages are installed by `scripts/setup test` (`npm ci` in tests/chat_sdk).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAT_SDK_DIR = REPO_ROOT / "tests" / "chat_sdk"
DRIVER_JS = CHAT_SDK_DIR / "driver.js"
SETUP_HINT = "run scripts/setup test (it runs npm ci in tests/chat_sdk; Node 20 must be on PATH)"

Predicate = Callable[[Any], bool]


def node_unavailable_reason() -> str | None:
    """Why the SDK driver cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return f"no node binary on PATH: {SETUP_HINT}"
    if not (CHAT_SDK_DIR / "node_modules" / "@twilio" / "conversations").is_dir():
        return f"{CHAT_SDK_DIR / 'node_modules'} has no @twilio/conversations: {SETUP_HINT}"
    return None


def node_available() -> bool:
    """True when node is on PATH and the SDK is installed under tests/chat_sdk/node_modules."""
    return node_unavailable_reason() is None


class SdkError(Exception):
    """An SDK call (or the JS code of a `run`) failed inside the driver."""

    def __init__(
        self, message: str, code: int | float | None = None, status: int | float | None = None, stack: str = "",
        name: str = "Error",
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.stack = stack
        self.name = name

    def __str__(self) -> str:
        return f"{self.name}: {self.message} (code={self.code}, status={self.status})"


class SdkDriverError(RuntimeError):
    """The driver process itself failed: it died, or did not answer in time."""


class SdkDriver:
    """A `node tests/chat_sdk/driver.js` process and the SDK clients it hosts. Thread-safe; use as a context manager."""

    def __init__(self, node: str = "node", env: dict[str, str] | None = None, stderr_lines: int = 2000) -> None:
        reason = node_unavailable_reason()
        if reason is not None:
            raise SdkDriverError(reason)
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._next_id = 0
        self._results: dict[int, dict[str, Any]] = {}
        self._waiting: set[int] = set()
        self._events: dict[str | None, list[dict[str, Any]]] = {}
        self._stderr: deque[str] = deque(maxlen=stderr_lines)
        self._dead = False
        self._closed = False
        self.process = subprocess.Popen(
            [node, str(DRIVER_JS)], cwd=CHAT_SDK_DIR, env={**os.environ, **(env or {})},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self._stdout_thread = threading.Thread(target=self._read_stdout, name="sdk-driver-stdout", daemon=True)
        self._stderr_thread = threading.Thread(target=self._read_stderr, name="sdk-driver-stderr", daemon=True)
        self._stdout_thread.start()
        self._stderr_thread.start()

    # ---- context manager --------------------------------------------------------------------------------------

    def __enter__(self) -> SdkDriver:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- reader threads ---------------------------------------------------------------------------------------

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                continue
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            with self._cond:
                if not isinstance(message, dict):
                    self._stderr.append(f"[stdout, not JSON] {line}")
                elif "event" in message:
                    self._events.setdefault(message.get("client"), []).append(message)
                elif isinstance(message.get("id"), int):
                    if message["id"] in self._waiting:
                        self._results[message["id"]] = message
                else:
                    self._stderr.append(f"[stdout, unexpected] {line}")
                self._cond.notify_all()
        with self._cond:
            self._dead = True
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._cond:
                self._stderr.append(line)

    # ---- requests ---------------------------------------------------------------------------------------------

    def stderr_tail(self, lines: int = 200) -> str:
        """The last `lines` lines the driver (and the SDK's logger) wrote to stderr."""
        with self._cond:
            return "\n".join(list(self._stderr)[-lines:])

    def _failure(self, what: str) -> str:
        returncode = self.process.poll()
        state = "running" if returncode is None else f"exited with {returncode}"
        return f"{what} (driver {state})\n--- driver stderr (tail) ---\n{self.stderr_tail()}"

    def _request(self, op: str, timeout: float, **fields: Any) -> Any:
        with self._cond:
            if self._dead or self._closed:
                raise SdkDriverError(self._failure(f"cannot send {op}: the driver is gone"))
            self._next_id += 1
            request_id = self._next_id
            self._waiting.add(request_id)
        line = json.dumps({"id": request_id, "op": op, **fields}) + "\n"
        try:
            with self._write_lock:
                assert self.process.stdin is not None
                self.process.stdin.write(line.encode())
                self.process.stdin.flush()
        except OSError as error:
            with self._cond:
                self._waiting.discard(request_id)
            raise SdkDriverError(self._failure(f"cannot send {op}: {error}")) from error
        deadline = time.monotonic() + timeout
        with self._cond:
            try:
                while request_id not in self._results:
                    remaining = deadline - time.monotonic()
                    if self._dead:
                        raise SdkDriverError(self._failure(f"the driver died during {op}"))
                    if remaining <= 0:
                        raise SdkDriverError(self._failure(f"no answer to {op} within {timeout}s"))
                    self._cond.wait(remaining)
                response = self._results.pop(request_id)
            finally:
                self._waiting.discard(request_id)
        if response.get("ok"):
            return response.get("result")
        error = response.get("error") or {}
        raise SdkError(
            str(error.get("message", "unknown error")), code=error.get("code"), status=error.get("status"),
            stack=str(error.get("stack") or ""), name=str(error.get("name") or "Error"),
        )  # fmt: skip

    def connect(
        self, name: str, token: str, uri: str, timeout: float = 20.0, *, keep_on_failure: bool = False, **options: Any
    ) -> dict[str, Any]:
        """Creates `new Client(token, {twilsock: {uri}, logLevel: "warn", ...options})` named `name` and waits for
        `stateChanged "initialized"`. Returns `{identity, connectionState}`.

        Raises SdkError on `initFailed` or after `timeout` seconds; the client is then shut down and forgotten,
        unless `keep_on_failure` (the SDK goes on reconnecting after a failed first connect, and may still
        initialise later: watch for it with `wait_event(name, "stateChanged", lambda s: s == "initialized")`).
        """
        result: dict[str, Any] = self._request(
            "connect", timeout + 10.0, name=name, token=token, uri=uri, options=options,
            timeout_ms=int(timeout * 1000), keep_on_failure=keep_on_failure,
        )  # fmt: skip
        return result

    def run(self, name: str | None, js_code: str, args: Any = None, timeout: float = 20.0) -> Any:
        """Evaluates `js_code`, the source of `async (client, args, h) => {...}`, against client `name` and returns
        its result as JSON (SDK objects serialised). `h` has conversation(sid), allMessages(conversation, pageSize),
        serialize(x), sleep(ms), waitFor(emitter, event, predicate, ms) and require."""
        return self._request("run", timeout + 5.0, name=name, code=js_code, args=args, timeout_ms=int(timeout * 1000))

    def set_push_registration_id(self, name: str, channel_type: str, token: str, timeout: float = 20.0) -> None:
        """`await client.setPushRegistrationId(channel_type, token)`: registers the device token for push (the SDK
        posts it to its push registry through the socket, after deleting the registration of a previous token)."""
        self._request("setPushRegistrationId", timeout, name=name, channel_type=channel_type, token=token)

    def unset_push_registration_id(self, name: str, channel_type: str, timeout: float = 20.0) -> None:
        """`await client.unsetPushRegistrationId(channel_type)` (deprecated by the SDK, still sent): deletes the
        client's registration of that channel."""
        self._request("unsetPushRegistrationId", timeout, name=name, channel_type=channel_type)

    def remove_push_registrations(self, name: str, channel_type: str, token: str, timeout: float = 20.0) -> None:
        """`await client.removePushRegistrations(channel_type, token)`: deletes the registration of that token."""
        self._request("removePushRegistrations", timeout, name=name, channel_type=channel_type, token=token)

    def shutdown(self, name: str, timeout: float = 10.0) -> None:
        """`await client.shutdown()`; the name is free again afterwards. Its recorded events are kept."""
        self._request("shutdown", timeout, name=name)

    def close(self, timeout: float = 10.0) -> None:
        """Shuts every client down and ends the Node process (killing it if it does not exit in time)."""
        with self._cond:
            if self._closed:
                return
            alive = not self._dead
        if alive and self.process.poll() is None:
            with contextlib.suppress(SdkDriverError, SdkError):
                self._request("exit", timeout)
        with self._cond:
            self._closed = True
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=3)
        self._stdout_thread.join(timeout=3)
        self._stderr_thread.join(timeout=3)

    # ---- events -----------------------------------------------------------------------------------------------

    def events(self, name: str | None, event: str | None = None) -> list[dict[str, Any]]:
        """Copies of the events recorded for client `name` (`{event, client, data, t}`), optionally of one kind.
        Events from the driver itself (`driverError`) are recorded under the name None."""
        with self._cond:
            recorded = self._events.get(name, [])
            return [copy.deepcopy(e) for e in recorded if event is None or e["event"] == event]

    def mark(self, name: str) -> int:
        """The number of events recorded so far for `name`: pass it as `since` to wait only for later ones."""
        with self._cond:
            return len(self._events.get(name, []))

    def clear_events(self, name: str) -> None:
        with self._cond:
            self._events.pop(name, None)

    def wait_event(
        self, name: str, event: str, predicate: Predicate | None = None, timeout: float = 10.0, since: int = 0
    ) -> dict[str, Any]:
        """Returns the first event `event` of client `name` (from index `since` on, so including ones that arrived
        before the call) whose data satisfies `predicate`; raises AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        checked = since
        with self._cond:
            while True:
                recorded = self._events.get(name, [])
                for index in range(checked, len(recorded)):
                    candidate = recorded[index]
                    if candidate["event"] == event and (predicate is None or predicate(candidate["data"])):
                        return copy.deepcopy(candidate)
                checked = max(checked, len(recorded))
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._dead:
                    break
                self._cond.wait(remaining)
            recent = "\n".join(json.dumps(e)[:500] for e in self._events.get(name, [])[-30:]) or "(none)"
        why = "the driver died" if self._dead else f"timed out after {timeout}s"
        raise AssertionError(
            f"no {event} event for client {name!r} matching the predicate ({why}; since={since})\n"
            f"--- recent events of {name!r} ---\n{recent}\n--- driver stderr (tail) ---\n{self.stderr_tail()}"
        )
