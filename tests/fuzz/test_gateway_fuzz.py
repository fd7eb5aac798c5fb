"""Hypothesis against the chat gateway (`gateway/`, `bridge/chat/`): a real gateway in this process on the session's
live bridge, spoken to over real WebSockets by bare twilsock clients (gateway_support.py).

1. Frames: arbitrary bytes, real frames garbled (magic, header length, header JSON, payload_size, truncation,
   non-UTF-8, unknown methods, huge headers), before and after init. The gateway never crashes or hangs: each
   frame is ignored or its socket closes, and a bystander socket keeps answering `GET /Client/v2/Configuration`.
2. The client API: generated `message` frames on the real route shapes under `/Client/v2/Services/{IS}/...` with
   generated segments (other services', other conversations', nonexistent SIDs, NUL, unicode, long strings),
   params, headers and bodies. Every reply is a twilsock `reply`, its `http_status` < 500, an error's payload
   Twilio-style JSON; nothing is written in a conversation the caller does not take part in.
3. Sync reads and subscriptions: generated object SIDs, paging params and subscription bodies. Replies < 500;
   every object of a request is either established or failed (`subscription_failed`), and no event of an object
   the caller may not read is ever sent (also after the caller leaves a conversation it follows).
4. The push registry: generated registrations and removals. Replies < 500; another user's binding is never
   removed or taken over, and every binding made is the caller's, in its token's service.

As in test_api_fuzz.py, failures are collected, not raised inside Hypothesis (one run reports all of them, the
smallest input of each kind first), and every send is counted in the suite's tally; one more line says what the
gateway did (closed, answered, error bodies without `more_info`). Examples per property scale with
BRIDGE_FUZZ_EXAMPLES (8 by default); BRIDGE_FUZZ_SEED replays a run. What these found is in
test_gateway_regressions.py.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import delete, or_, select
from websockets.exceptions import ConnectionClosed

from bridge.chat import objects
from bridge.models import Conversation, ConversationService, Message, Participant, PushBinding, User
from bridge.push import bindings
from gateway.frames import MAGIC, MAX_HEADER, Frame, FrameError, decode
from gateway.server import MAX_FRAME
from tests.fuzz.gateway_support import (
    IDENTITY,
    Client,
    ErrorLog,
    World,
    configuration_frame,
    http_status,
    message_frame,
    raw_frame,
    request_id,
    watching_errors,
    world_on,
)
from tests.fuzz.harness import EXAMPLES, SEED, TALLY, Finding
from tests.support.live import LiveBridge
from tests.support.twilsock_client import RawClient

# Examples per property at the default BRIDGE_FUZZ_EXAMPLES=8; scripts/fuzz (100) runs about twelve times more.
SCALE = EXAMPLES / 8
FRAME_EXAMPLES = int(150 * SCALE)
PRE_INIT_EXAMPLES = int(40 * SCALE)
INIT_EXAMPLES = int(40 * SCALE)
CLIENT_API_EXAMPLES = int(300 * SCALE)
SYNC_READ_EXAMPLES = int(200 * SCALE)
SUBSCRIPTION_EXAMPLES = int(100 * SCALE)
REPLY_TIMEOUT = 3.0  # a reply later than this is a hang (they take milliseconds)
HUNG_TIMEOUT = 0.5  # the wait once a property has met two hangs: a known hang must not take the run's minute


@pytest.fixture(scope="module")
def world(bridge: LiveBridge, request: pytest.FixtureRequest) -> Iterator[World]:
    if not request.config.pluginmanager.has_plugin(SUMMARY_PLUGIN):
        request.config.pluginmanager.register(GatewaySummary(), SUMMARY_PLUGIN)
    with world_on(bridge) as w:
        yield w


@pytest.fixture(scope="module")
def error_log(world: World) -> Iterator[ErrorLog]:
    with watching_errors() as handler:
        yield handler


@pytest.fixture(scope="module")
def bystander(world: World) -> Iterator[RawClient]:
    client = world.connect("bystander")
    yield client
    client.close()


# --- what was found, and what the gateway did -----------------------------------------------------------------------


@dataclass
class Findings:
    """Failures of one property: every one goes to the suite's tally; the report keeps the smallest of each kind."""

    kind: str
    smallest: dict[str, Finding] = field(default_factory=dict)
    hangs: int = 0

    @property
    def timeout(self) -> float:
        return REPLY_TIMEOUT if self.hangs < 2 else HUNG_TIMEOUT

    def add(self, operation: str, problem: str, status: int | None, reproduce: str) -> None:
        finding = Finding(operation, self.kind, problem, status, reproduce[:1500])
        TALLY.fail(finding)
        key = f"{operation}|{problem.splitlines()[0][:120]}|{status}"
        if key not in self.smallest or len(reproduce) < len(self.smallest[key].reproduce):
            self.smallest[key] = finding

    def hung(self, operation: str, reproduce: str, problem: str = "no reply") -> None:
        self.hangs += 1
        self.add(operation, problem, None, reproduce)

    def unanswered(self, operation: str, mode: str, error_log: ErrorLog, reproduce: str) -> None:
        """An upstream request that got no reply in time."""
        TALLY.count(operation, mode, None)
        self.hung(operation, reproduce)
        self.logged(error_log, reproduce)

    def judge(self, operation: str, mode: str, reply: Frame, reproduce: str) -> int | None:
        """Tallies an upstream reply and records what is wrong with it; returns its HTTP status."""
        problems, status = reply_problems(reply)
        TALLY.count(operation, mode, status)
        for problem in problems:
            self.add(operation, problem, status, reproduce)
        return status

    def logged(self, error_log: ErrorLog, reproduce: str) -> None:
        """What the gateway logged as errors, by exception (a lost task's is logged later, by the collector)."""
        for error in error_log.take():
            self.add("gateway log", f"logged {error}", None, "(during or after) " + reproduce)

    def report(self) -> str:
        lines = [f"{len(self.smallest)} distinct failures:"]
        for f in sorted(self.smallest.values(), key=lambda f: len(f.reproduce)):
            lines += [f"[{f.operation}] {f.status}: {f.problem}", f"    {f.reproduce}"]
        return "\n".join(lines)


NOTES: Counter[str] = Counter()  # not failures: what the summary line tells
SUMMARY_PLUGIN = "gateway-fuzz-summary"


class GatewaySummary:
    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if NOTES:
            notes = "; ".join(f"{n} {what}" for what, n in sorted(NOTES.items()))
            terminalreporter.write_line(f"fuzz: gateway: {notes}")


def run_examples(count: int, strategy: Any, body: Callable[[Any], None]) -> None:
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=strategy)
    def cases(case: Any) -> None:
        body(case)

    if SEED is not None:
        cases = seed(int(SEED))(cases)
    cases()


def close_code(client: RawClient) -> int | None:
    return client.socket.close_code


def still_answers(client: RawClient, timeout: float) -> str:
    """`answered`, `closed` or `hang`: what a Configuration request meets on this socket now."""
    rid, frame = configuration_frame()
    try:
        client.socket.send(frame)
        reply = client.reply_to(rid, timeout)
    except ConnectionClosed:
        return "closed"
    except TimeoutError:
        return "hang"
    return "answered" if http_status(reply) == 200 else f"answered {http_status(reply)}"


def shown(value: Any, limit: int = 1200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def reply_problems(reply: Frame) -> tuple[list[str], int | None]:
    """What is wrong with an upstream reply (empty: nothing), and its HTTP status."""
    if reply.method != "reply":
        return [f"answered with {reply.method!r}, not a reply"], None
    transport = reply.header.get("status")
    if not isinstance(transport, dict) or transport.get("code") != 200:
        return [f"transport status {transport!r}"], None
    status = (reply.header.get("http_status") or {}).get("code")
    if not isinstance(status, int):
        return [f"no http_status code: {reply.header!r}"], None
    problems = []
    if status >= 500:
        problems.append(f"HTTP {status}: {reply.payload[:300]}")
    try:
        body = reply.json_payload()
    except ValueError:
        return [*problems, f"the payload is not JSON: {reply.payload[:200]!r}"], status
    if status >= 400:
        if not isinstance(body, dict) or not all(k in body for k in ("code", "message", "status")):
            problems.append(f"an error body without code, message and status: {reply.payload[:300]}")
        else:
            if body["status"] != status:
                problems.append(f"http_status {status}, body status {body['status']!r}")
            if not isinstance(body["code"], int) or not isinstance(body["message"], str):
                problems.append(f"code or message of the wrong type: {reply.payload[:300]}")
            if "more_info" not in body:
                message = str(body.get("message")).split(" at ")[0]  # "No resource at <path>": one note
                NOTES[f"without more_info: {status} {body.get('code')} {message[:40]!r}"] += 1
    return problems, status


def check_gateway_alive(
    world: World, bystander: RawClient, error_log: ErrorLog, findings: Findings, operation: str, reproduce: str
) -> None:
    if not world.gateway.thread.is_alive():
        findings.add(operation, "the gateway thread ended", None, reproduce)
        pytest.fail("the gateway crashed:\n" + findings.report())
    outcome = still_answers(bystander, findings.timeout)
    if outcome == "hang":
        findings.hung(operation, reproduce, "the bystander socket: no answer")
    elif outcome != "answered":
        findings.add(operation, f"the bystander socket: {outcome}", None, reproduce)
    findings.logged(error_log, reproduce)


# --- generated values (module-level strategies: building them inside a draw costs more than drawing) --------------


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    options = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(options).flatmap(lambda strategy: strategy)


def repeated(*pieces: tuple[Any, int]) -> st.SearchStrategy[Any]:
    """Long values, made when drawn (in a sampled_from they would make Hypothesis's reprs huge)."""
    return st.sampled_from(pieces).map(lambda piece: piece[0] * piece[1])


HEX = "0123456789abcdef"
HOSTILE_TEXT = [
    "", " ", "%", "%zz", "%ED%A0%80", "%2F", "é", "\U0001f4ac", "\u202e", "\ufeff", "null", "true", "0", "-1", "1.5",
    "1e999", "\u0663", "\uff11\uff12", "after:", "..", "/", "\\", "{}", "[]", '"', "<script>", "9" * 19, "9" * 20,
]  # fmt: skip
NUL_TEXT = ["\x00", "a\x00b", "%00", "a%00b", "after:\x00"]
long_text = repeated(("9", 30), ("9", 5000), ("x", 20000))
hostile_text = weighted(
    (3, st.sampled_from(HOSTILE_TEXT)), (3, st.sampled_from(NUL_TEXT)), (1, long_text), (2, st.text(max_size=16))
)
hex32 = st.text(alphabet=HEX, min_size=32, max_size=32)
big_ints = st.sampled_from([2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30])
json_scalars = weighted(
    (1, st.none()),
    (1, st.booleans()),
    (2, st.integers()),
    (1, big_ints),
    (1, st.floats(allow_nan=False, allow_infinity=False)),
    (3, hostile_text),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def sid_like(prefix: str) -> st.SearchStrategy[str]:
    return hex32.map(lambda digits: prefix + digits)


# --- 1. frames ----------------------------------------------------------------------------------------------------

METHODS = ["message", "ping", "reply", "telemetry.v1", "update", "init", "notification", "client_update",
           "put_notification_ctx", "delete_notification_ctx", "close"]  # fmt: skip
frame_methods = weighted((4, st.sampled_from(METHODS)), (1, hostile_text), (1, json_values))
frame_ids = weighted((3, st.builds(request_id)), (1, json_values))
frame_paths = st.sampled_from(["/Client/v2/Configuration", "/v4/Subscriptions", "/v3/Maps/x"])
frame_payload_types = st.sampled_from(["application/json", "text/plain"]) | hostile_text
frame_bodies = st.sampled_from([b"", b"{}", b'{"a":1}', b'"x"']) | st.binary(max_size=40)
HEADER_SIZES = [
    b"-1", b"0", b"-0", b"1.5", b"abc", b"", b" ", b"0x10", b"1_0", b"\xd9\xa3", b"9" * 30,
    str(MAX_HEADER + 1).encode(),
]  # fmt: skip
HEADER_TEXTS = [b"[]", b"null", b'"x"', b"1", b"\xff\xfe", b"NaN", b'{"a":1e999}', b'{"a":"\\ud800"}']
header_sizes = (
    st.sampled_from(HEADER_SIZES)
    | repeated((b"9", 5000))
    | st.integers(min_value=-(10**9), max_value=10**12).map(lambda n: str(n).encode())
)
header_texts = (
    st.binary(max_size=60)
    | st.sampled_from(HEADER_TEXTS)
    | repeated((b"[", 5000), (b'{"a":[', 3000))
    | json_values.map(lambda v: json.dumps(v).encode())
)
payload_sizes = st.sampled_from([-1, 10**12, 10**40, 1.5, "5", True, False, None, [], {}, 1]) | st.integers(0, 300)
payload_bytes = st.sampled_from([b"\xff", b"\xc3", b"a\xed\xa0\x80b", b"\x00\xff\xfe"]) | st.binary(max_size=20)
GARBLINGS = ["bytes", "magic", "header_length", "header_json", "payload_size", "truncated", "payload_bytes",
             "huge_header", "separators", "trailing", "two_frames", "oversized", "as_is"]  # fmt: skip
MAGICS = [b"", b"TWILSOCK V2.0 ", b"twilsock v3.0 ", b"TWILSOCK V3.0", b"TWILSOCK "]


@st.composite
def real_frames(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    """A well-formed frame the garbling starts from: an upstream request, or another method."""
    method = draw(frame_methods)
    header: dict[str, Any] = {"id": draw(frame_ids), "method": method}
    if method == "message" or draw(st.booleans()):
        header["http_request"] = {"host": "aim.us1.twilio.com", "path": draw(frame_paths), "method": "GET",
                                  "params": {}, "headers": {}}  # fmt: skip
    if draw(st.booleans()):
        header["payload_type"] = draw(frame_payload_types)
    return header, draw(frame_bodies)


@st.composite
def garbled_frames(draw: st.DrawFn) -> tuple[str, bytes]:
    how = draw(st.sampled_from(GARBLINGS))
    header, body = draw(real_frames())
    frame = raw_frame(header, body)
    head = json.dumps({**header, "payload_size": len(body)}, separators=(",", ":")).encode()
    match how:
        case "bytes":
            return how, draw(st.binary(max_size=300) | st.binary(max_size=40).map(lambda b: MAGIC + b))
        case "magic":
            return how, draw(st.sampled_from(MAGICS)) + frame[len(MAGIC) :]
        case "header_length":
            size = draw(header_sizes | st.integers(-3, 3).map(lambda d: str(max(0, len(head) + d)).encode()))
            return how, MAGIC + size + b"\r\n" + head + b"\r\n" + body
        case "header_json":
            text = draw(header_texts)
            return how, MAGIC + str(len(text)).encode() + b"\r\n" + text + b"\r\n" + body
        case "payload_size":
            return how, raw_frame(header, body, payload_size=draw(payload_sizes))
        case "truncated":
            return how, frame[: draw(st.integers(0, max(0, len(frame) - 1)))]
        case "payload_bytes":
            return how, raw_frame(header, draw(payload_bytes))
        case "huge_header":
            size = draw(st.sampled_from([MAX_HEADER - 200, MAX_HEADER - 50, MAX_HEADER + 10, 3 * MAX_HEADER]))
            return how, raw_frame({**header, "padding": "p" * size}, body)
        case "separators":
            return how, frame.replace(b"\r\n", draw(st.sampled_from([b"\n", b"", b"\r\n\r\n", b"\n\r"])), 1)
        case "trailing":
            return how, frame + draw(st.sampled_from([b"\r\n", b"\r\n\r\n"]) | st.binary(max_size=40))
        case "two_frames":
            return how, frame + raw_frame({"id": request_id(), "method": "ping"})
        case "oversized":
            return how, raw_frame(header, b"x" * (MAX_FRAME + 1))
    return how, frame


frame_cases = st.tuples(st.lists(garbled_frames(), min_size=1, max_size=3), st.booleans())


def send_frame(client: RawClient, data: bytes, as_text: bool) -> bool:
    """Sends `data` (as a text message if asked and it is UTF-8); whether the socket took it."""
    try:
        if as_text:
            try:
                client.socket.send(data.decode())
                return True
            except UnicodeDecodeError:
                pass
        client.socket.send(data)
        return True
    except ConnectionClosed:
        return False


def decodes(data: bytes) -> bool:
    try:
        decode(data)
    except FrameError:
        return False
    return True


def test_garbled_frames_are_ignored_or_close_only_their_socket(
    world: World, bystander: RawClient, error_log: ErrorLog
) -> None:
    findings = Findings("gateway-frame")
    holder: list[RawClient] = []

    def one(case: tuple[list[tuple[str, bytes]], bool]) -> None:
        frames, as_text = case
        if not holder:
            holder.append(world.connect())
        client = holder[0]
        reproduce = shown(frames) + (" as text" if as_text else "")
        operation = "frame " + "+".join(how for how, _ in frames)
        for _, data in frames:
            if not send_frame(client, data, as_text):
                break
        outcome = still_answers(client, findings.timeout)
        TALLY.count(operation, "gateway-frame", None)
        NOTES[f"garbled frames: {outcome.split()[0]}"] += 1
        if outcome == "hang":
            findings.hung(operation, reproduce, "the socket neither answered nor closed")
        elif outcome == "closed" and close_code(client) == 1011:
            findings.add(operation, "the connection handler failed (close 1011)", None, reproduce)
        elif outcome not in ("answered", "closed"):
            findings.add(operation, f"the next Configuration request: {outcome}", None, reproduce)
        if outcome != "answered":
            client.close()
            holder.clear()
        check_gateway_alive(world, bystander, error_log, findings, operation, reproduce)

    run_examples(FRAME_EXAMPLES, frame_cases, one)
    for client in holder:
        client.close()
    assert not findings.smallest, findings.report()


junk_tokens = st.sampled_from(["", "not.a.token", "a.b.c", "eyJ.eyJ.sig"]) | json_values
junk_inits = st.builds(
    lambda rid, token, extra: ("init", raw_frame({"id": rid, "method": "init", "token": token, **extra})),
    frame_ids,
    junk_tokens,
    st.dictionaries(st.sampled_from(["registrations", "continuation_token", "capabilities"]), json_values),
)
pre_init_cases = st.tuples(garbled_frames() | junk_inits, st.booleans()).map(lambda c: (*c[0], c[1]))


def test_frames_before_init_end_the_socket(world: World, bystander: RawClient, error_log: ErrorLog) -> None:
    """Anything but an init with a token that verifies closes the socket (after a refusal, for a bad token)."""
    findings = Findings("gateway-pre-init")

    def one(case: tuple[str, bytes, bool]) -> None:
        how, data, as_text = case
        operation = f"pre-init {how}"
        reproduce = shown(data) + (" as text" if as_text else "")
        client = Client(world.gateway.url)
        try:
            send_frame(client, data, as_text)
            deadline = time.monotonic() + findings.timeout
            outcome = "hang"
            while time.monotonic() < deadline:
                try:
                    frame = client.frame(max(0.1, deadline - time.monotonic()))
                except ConnectionClosed:
                    outcome = "closed"
                    break
                except TimeoutError:
                    break
                if frame.method == "reply" and (frame.header.get("status") or {}).get("code") == 200:
                    outcome = "accepted"
                    break
            TALLY.count(operation, "gateway-pre-init", None)
            NOTES[f"frames before init: {outcome}"] += 1
            if outcome == "accepted":
                findings.add(operation, "accepted without a valid token", 200, reproduce)
            elif outcome == "hang":
                findings.hung(operation, reproduce, "the socket stayed open without an init")
            elif close_code(client) == 1011:
                findings.add(operation, "the connection handler failed (close 1011)", None, reproduce)
        finally:
            client.close()
        check_gateway_alive(world, bystander, error_log, findings, operation, reproduce)

    run_examples(PRE_INIT_EXAMPLES, pre_init_cases, one)
    assert not findings.smallest, findings.report()


# Shapes a list of names is not: numbers, true, lists of lists or of objects (unhashable), and anything else.
not_names = weighted(
    (1, st.integers(1, 10**6)), (1, st.just(True)), (1, st.lists(st.lists(st.text(max_size=4)), min_size=1)),
    (1, st.lists(st.dictionaries(st.text(max_size=3), st.integers(), min_size=1), min_size=1)), (2, json_values),
)  # fmt: skip
registration = st.fixed_dictionaries(
    {}, optional={"product": json_values, "message_types": st.lists(st.text(max_size=30)) | not_names}
)
registrations = weighted((1, not_names), (2, st.lists(registration | json_values, max_size=3)))
init_fields = st.fixed_dictionaries(
    {"registrations": registrations},
    optional={"continuation_token": json_values, "capabilities": json_values, "metadata": json_values,
              "tweaks": json_values, "id": json_values},
)  # fmt: skip
minted = st.tuples(
    weighted(
        (2, st.sampled_from([IDENTITY, " ", "é", "x" * 256, "x" * 257])),
        (1, st.sampled_from(NUL_TEXT)),
        (2, hostile_text),
    ),
    st.sampled_from(["ours", "other", "IS" + "0" * 32, "", "\x00", "IS"]),
)
init_cases = st.tuples(st.just("junk fields"), init_fields) | st.tuples(st.just("minted"), minted)


def test_an_init_with_a_good_token_and_junk_fields_is_answered(
    world: World, bystander: RawClient, error_log: ErrorLog
) -> None:
    """The token verifies and the rest of the init is generated: the client is connected (or refused) and the
    socket answers. Tokens minted for generated identities and services are refused, or work."""
    findings = Findings("gateway-init")
    good = world.token()

    def one(case: tuple[str, Any]) -> None:
        kind, value = case
        operation = f"init {kind}"
        if kind == "minted":
            identity, service = value
            service_sid = {"ours": world.service, "other": world.other_service}.get(service, service)
            data = raw_frame({"id": request_id(), "method": "init", "token": world.token(identity, service_sid)})
            reproduce = f"a token for identity={identity!r} service={service_sid!r}"
        else:
            data = raw_frame({"id": request_id(), "method": "init", "token": good, **value})
            reproduce = shown(data)
        client = Client(world.gateway.url)
        try:
            client.socket.send(data)
            try:
                reply = client.frame(findings.timeout)
                status = (reply.header.get("status") or {}).get("code")
                outcome = "connected" if status == 200 else f"refused {status}"
            except ConnectionClosed:
                outcome = "closed"
            except TimeoutError:
                outcome = "hang"
            TALLY.count(operation, "gateway-init", None)
            NOTES[f"inits: {outcome}"] += 1
            if outcome == "hang":
                findings.hung(operation, reproduce, "no init reply")
            elif outcome == "closed" and decodes(data):  # a header beyond MAX_HEADER is closed on, rightly
                findings.add(operation, f"closed without an init reply (close {close_code(client)})", None, reproduce)
            elif outcome == "connected":
                rid, frame = configuration_frame()
                client.socket.send(frame)
                try:
                    problems, status = reply_problems(client.reply_to(rid, findings.timeout))
                except (ConnectionClosed, TimeoutError) as error:
                    problems, status = [f"Configuration: {type(error).__name__}"], None
                for problem in problems:
                    findings.add(operation, f"Configuration after init: {problem}", status, reproduce)
        finally:
            client.close()
        check_gateway_alive(world, bystander, error_log, findings, operation, reproduce)

    run_examples(INIT_EXAMPLES, init_cases, one)
    assert not findings.smallest, findings.report()


# --- 2. the client API --------------------------------------------------------------------------------------------

ROUTES: list[tuple[str, str]] = [
    ("GET", "/Client/v2/Configuration"),
    ("GET", "{svc}/Users/{identity}/Conversations"),
    ("GET", "{svc}/Users/{identity}/Conversations/{conv}"),
    ("POST", "{svc}/Users/{identity}/Conversations/{conv}"),
    ("GET", "{svc}/Users/{identity}"),
    ("POST", "{svc}/Users/{identity}"),
    ("POST", "{svc}/Conversations"),
    ("GET", "{svc}/Conversations/{conv}"),
    ("POST", "{svc}/Conversations/{conv}"),
    ("DELETE", "{svc}/Conversations/{conv}"),
    ("POST", "{svc}/Conversations/{conv}/Messages"),
    ("GET", "{svc}/Conversations/{conv}/Messages/{msg}"),
    ("POST", "{svc}/Conversations/{conv}/Messages/{msg}"),
    ("DELETE", "{svc}/Conversations/{conv}/Messages/{msg}"),
    ("POST", "{svc}/Conversations/{conv}/Participants"),
    ("POST", "{svc}/Conversations/{conv}/Participants/{participant}"),
    ("DELETE", "{svc}/Conversations/{conv}/Participants/{participant}"),
    ("POST", "{svc}/Typing"),
]
ROLES = ["ours", "theirs", "elsewhere"]
roles = st.sampled_from(["ours", "ours", "ours", "theirs", "theirs", "elsewhere"])


@dataclass(frozen=True)
class Segment:
    """A path segment: a role resolved against the world when the case runs (its SIDs change), or literal text."""

    role: str
    text: str = ""

    def resolve(self, world: World) -> str:
        match self.role:
            case "literal":
                return self.text
            case "service":
                return world.service
            case "other_service":
                return world.other_service
            case "conversation":
                return world.conversation(self.text)
            case "message":
                return world.messages[self.text]
            case "participant":
                role, index = self.text.split(":")
                members = world.participants[role]
                return members[int(index) % len(members)]
        raise AssertionError(self.role)


def literal(values: st.SearchStrategy[str]) -> st.SearchStrategy[Segment]:
    return values.map(lambda text: Segment("literal", text))


junk_segment = literal(hostile_text)
percent_nul = literal(st.sampled_from(["%00", "a%00b"]))  # decoded only after the gateway's own checks
SEGMENTS: dict[str, st.SearchStrategy[Segment]] = {
    "svc": weighted(
        (8, st.just(Segment("service"))), (1, st.just(Segment("other_service"))), (1, literal(sid_like("IS"))),
        (1, junk_segment),
    ),
    "conv": weighted(
        (6, roles.map(lambda role: Segment("conversation", role))),
        (1, literal(st.sampled_from(["ours-room", "theirs-room", "elsewhere-room"]))),
        (1, literal(sid_like("CH"))),
        (2, junk_segment),
        (1, percent_nul),
    ),
    "identity": weighted(
        (6, st.just(Segment("literal", IDENTITY))),
        (2, literal(st.sampled_from(["bob", "carol", "alice%00", "%61lice"]))),
        (2, junk_segment),
        (1, percent_nul),
    ),
    "msg": weighted(
        (4, roles.map(lambda role: Segment("message", role))),
        (1, literal(sid_like("IM"))),
        (1, literal(st.sampled_from(["0", "1", "-1", "9" * 30]))),
        (2, junk_segment),
    ),
    "participant": weighted(
        (4, st.builds(lambda r, i: Segment("participant", f"{r}:{i}"), roles, st.integers(0, 1))),
        (1, literal(st.sampled_from([IDENTITY, "bob", "carol"]))),
        (1, literal(sid_like("MB"))),
        (2, junk_segment),
    ),
}  # fmt: skip
BODY_FIELDS = [
    "friendly_name", "unique_name", "attributes", "body", "identity", "messaging_binding", "last_read_message_index",
    "notification_level", "subject", "content_sid", "content_variables",
]  # fmt: skip
SPECIFIC_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "identity": st.sampled_from([IDENTITY, "bob", "dave", "x" * 300]),
    "attributes": st.sampled_from(['{"a":1}', "not json", "[1]", '"s"', '{"a":"\\u0000"}']) | repeated(("{", 3000)),
    "messaging_binding": st.fixed_dictionaries(
        {}, optional={"address": st.sampled_from(["+14155550100", "whatsapp:+1", "x"]) | json_values,
                      "proxy_address": st.sampled_from(["+12015550100", ""]) | json_values}),
    "last_read_message_index": st.sampled_from([0, 1, -1]) | big_ints | st.integers(),
    "notification_level": st.sampled_from(["default", "muted", "MUTED ", "loud"]),
    "body": st.sampled_from(["hi"]) | repeated(("y", 32768), ("y", 32769)),
    "friendly_name": st.sampled_from(["a name"]) | repeated(("n", 256), ("n", 257)),
    "unique_name": st.sampled_from(["ours-room", "theirs-room", "CH" + "0" * 32]),
}  # fmt: skip
FIELD_VALUES = {
    name: weighted((3, SPECIFIC_VALUES.get(name, st.nothing())), (3, hostile_text), (2, json_values))
    for name in BODY_FIELDS
}
JSON_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8"])
PAYLOAD_TYPES = weighted(
    (4, JSON_TYPES),
    (1, st.none()),
    (1, st.sampled_from(["text/plain", "", "application/x-www-form-urlencoded"]) | hostile_text),
)
BODY_ENCODINGS = ["json"] * 4 + ["json_string", "other_json", "form", "form", "text", "empty", "hostile"]
HOSTILE_BODIES = st.sampled_from(['"\\ud800"', "NaN", "1e999", '{"body":"\\u0000"}', "\x00"]) | repeated(("[", 5000))


ROUTE_FIELDS = {
    ("POST", "{svc}/Users/{identity}/Conversations/{conv}"): ["last_read_message_index", "notification_level"],
    ("POST", "{svc}/Users/{identity}"): ["friendly_name", "attributes"],
    ("POST", "{svc}/Conversations"): ["friendly_name", "unique_name", "attributes"],
    ("POST", "{svc}/Conversations/{conv}"): ["friendly_name", "unique_name", "attributes"],
    ("POST", "{svc}/Conversations/{conv}/Messages"): ["body", "attributes", "subject", "content_sid",
                                                      "content_variables"],
    ("POST", "{svc}/Conversations/{conv}/Messages/{msg}"): ["body", "attributes"],
    ("POST", "{svc}/Conversations/{conv}/Participants"): ["identity", "messaging_binding", "attributes"],
    ("POST", "{svc}/Conversations/{conv}/Participants/{participant}"): ["attributes"],
}  # fmt: skip
FIELD_NAMES = {
    route: weighted((4, st.lists(st.sampled_from(names), min_size=1, unique=True)),
                    (1, st.lists(st.sampled_from(BODY_FIELDS), max_size=3, unique=True)))
    for route, names in ROUTE_FIELDS.items()
}  # fmt: skip
ANY_FIELDS = st.lists(st.sampled_from(BODY_FIELDS), max_size=3, unique=True)


@st.composite
def bodies(draw: st.DrawFn, route: tuple[str, str]) -> tuple[str | None, str]:
    """A body and its payload_type: JSON objects of the route's fields (mostly; of any types), JSON strings of JSON,
    other JSON, form bodies, non-JSON."""
    names = draw(FIELD_NAMES.get(route, ANY_FIELDS))
    obj: dict[str, Any] = {name: draw(FIELD_VALUES[name]) for name in names}
    match draw(st.sampled_from(BODY_ENCODINGS)):
        case "json":
            return draw(PAYLOAD_TYPES), json.dumps(obj)
        case "json_string":
            return draw(JSON_TYPES), json.dumps(json.dumps(obj))
        case "other_json":
            return draw(PAYLOAD_TYPES), json.dumps(draw(json_values))
        case "form":
            flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}
            return "application/x-www-form-urlencoded", urlencode(flat)
        case "text":
            return draw(PAYLOAD_TYPES), draw(st.text(max_size=40))
        case "hostile":
            return draw(JSON_TYPES), draw(HOSTILE_BODIES)
    return draw(PAYLOAD_TYPES), ""


MUTATION_IDS = st.sampled_from(["fixed-mutation", "m" * 100, " "]) | st.uuids().map(str) | hostile_text
API_PARAMS = st.dictionaries(
    st.sampled_from(["PageToken", "PageSize", "Order"]) | st.text(max_size=6),
    weighted((2, hostile_text), (1, json_values)),
    max_size=2,
)
HEADER_VALUES = st.fixed_dictionaries(
    {},
    optional={"X-Twilio-Mutation-Id": MUTATION_IDS, "Content-Type": st.sampled_from(["application/json",
              "application/x-www-form-urlencoded"]), "X-Extra": json_values},
)  # fmt: skip


@st.composite
def http_extras(draw: st.DrawFn) -> Any:
    """params and headers of http_request: rarely junk in their place, or in place of http_request itself."""
    if draw(st.integers(0, 29)) == 0:
        return draw(json_values)  # no http_request object at all
    extras: dict[str, Any] = {}
    shape = draw(st.integers(0, 29))
    extras["params"] = draw(json_values) if shape == 0 else draw(API_PARAMS)
    extras["headers"] = draw(json_values) if shape == 1 else draw(HEADER_VALUES)
    return extras


DECORATIONS = ["none"] * 8 + ["trailing_slash", "extra_segment", "double_slash", "no_leading_slash", "quoted", "v1"]
OTHER_METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH", "get", "post", "", "HEAD", "G\x00ET"]


@dataclass(frozen=True)
class ApiCase:
    method: str
    template: str
    segments: tuple[tuple[str, Segment], ...]
    decoration: str
    http_request: Any  # the rest of http_request (params, headers), or junk in place of the whole object
    payload_type: str | None
    body: str
    typing: Segment | None = None  # a typing form's conversation (resolved when the case runs)

    def path(self, world: World) -> str:
        values = {name: segment.resolve(world) for name, segment in self.segments}
        path = self.template.replace("{svc}", "/Client/v2/Services/" + values.pop("svc", ""))
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        match self.decoration:
            case "trailing_slash":
                path += "/"
            case "extra_segment":
                path += "/extra"
            case "double_slash":
                path = path.replace("/", "//", 2)
            case "no_leading_slash":
                path = path.lstrip("/")
            case "quoted":
                path = quote(path, safe="/")
            case "v1":
                path = path.replace("/v2/", "/v1/", 1)
        return path

    def text(self, world: World) -> str:
        if self.typing is None:
            return self.body
        return "ChannelSid=" + quote(self.typing.resolve(world), safe="")

    def http(self, world: World) -> Any:
        if not isinstance(self.http_request, dict):
            return self.http_request
        return {"host": "aim.us1.twilio.com", "path": self.path(world), "method": self.method, **self.http_request}

    @property
    def operation(self) -> str:
        return f"{self.method} {self.template}"


@st.composite
def api_cases(draw: st.DrawFn) -> ApiCase:
    method, template = draw(st.sampled_from(ROUTES))
    payload_type, body = draw(bodies((method, template)))
    if draw(st.integers(0, 5)) == 0:
        method = draw(st.sampled_from(OTHER_METHODS) | hostile_text)
    segments = tuple((name, draw(SEGMENTS[name])) for name in SEGMENTS if "{" + name + "}" in template)
    typing = None
    if template.endswith("/Typing") and draw(st.integers(0, 3)) > 0:
        typing = draw(SEGMENTS["conv"])
        payload_type = draw(st.sampled_from(["application/x-www-form-urlencoded", "application/json"]))
    return ApiCase(method, template, segments, draw(st.sampled_from(DECORATIONS)), draw(http_extras()),
                   payload_type, body, typing)  # fmt: skip


def protected_state(world: World) -> dict[str, Any]:
    """Everything alice may not change: conversations she is not in (and the other service's), others' users."""
    with world.live.database.transaction() as session:
        other_id = session.scalar(select(ConversationService.id).where(ConversationService.sid == world.other_service))
        conversations = session.scalars(
            select(Conversation)
            .where(or_(Conversation.sid == world.theirs, Conversation.service_id == other_id))
            .order_by(Conversation.sid)
        ).all()
        state: dict[str, Any] = {}
        for c in conversations:
            messages = session.execute(
                select(Message.sid, Message.index, Message.body, Message.attributes, Message.date_updated)
                .where(Message.conversation_id == c.id)
                .order_by(Message.index)
            ).all()
            members = session.execute(
                select(Participant.sid, Participant.identity, Participant.attributes,
                       Participant.last_read_message_index, Participant.notification_level, Participant.date_updated)
                .where(Participant.conversation_id == c.id)
                .order_by(Participant.sid)
            ).all()  # fmt: skip
            row = (c.friendly_name, c.unique_name, c.attributes, c.state, c.date_updated, c.created_by)
            state[c.sid] = {"conversation": row, "messages": list(messages), "participants": list(members)}
        others = [world.users["bob"], world.users["carol"]]
        state["users"] = list(
            session.execute(
                select(User.sid, User.identity, User.friendly_name, User.attributes, User.date_updated)
                .where(or_(User.service_id == other_id, User.sid.in_(others)))
                .order_by(User.sid)
            ).all()
        )
    return state


def test_generated_client_api_requests_are_answered_below_500_and_write_only_where_allowed(
    world: World, bystander: RawClient, error_log: ErrorLog
) -> None:
    findings = Findings("gateway-client-api")
    holder = [world.connect()]
    before = protected_state(world)
    assert world.theirs in before and world.elsewhere in before

    def one(case: ApiCase) -> None:
        client = holder[0]
        http, text = case.http(world), case.text(world)
        rid, frame = message_frame(http, text, case.payload_type)
        reproduce = shown({"payload_type": case.payload_type, "http_request": http, "payload": text})
        try:
            client.socket.send(frame)
            reply = client.reply_to(rid, findings.timeout)
        except TimeoutError:
            findings.unanswered(case.operation, "gateway-client-api", error_log, reproduce)
            return
        except ConnectionClosed:
            findings.add(case.operation, f"the socket closed (close {close_code(client)})", None, reproduce)
            holder[0] = world.connect()
            return
        status = findings.judge(case.operation, "gateway-client-api", reply, reproduce)
        findings.logged(error_log, reproduce)
        if case.method.upper() != "GET":
            after = protected_state(world)
            if after != before:
                findings.add(case.operation, "changed what alice may not change", status, reproduce)
                before.update(after)
            world.repair()

    try:
        run_examples(CLIENT_API_EXAMPLES, api_cases(), one)
        check_gateway_alive(world, bystander, error_log, findings, "client api", "(after the run)")
    finally:
        holder[0].close()
    assert not findings.smallest, findings.report()


# --- 3. Sync reads and subscriptions ------------------------------------------------------------------------------

PATH_OF_PREFIX = {"ET": "Documents", "ES": "Lists", "MP": "Maps", "MU": "Maps", "MC": "Maps"}
TYPE_PATHS = ["Documents", "Maps", "Lists"]


@dataclass(frozen=True)
class ObjectRef:
    """A Sync object named by whose it is (resolved when the case runs), or a literal SID."""

    prefix: str
    owner: str  # ours | theirs | elsewhere | user:<identity> | other_user:<identity> | literal
    text: str = ""

    def resolve(self, world: World) -> str:
        if self.owner == "literal":
            return self.text
        if self.owner.startswith("user:"):
            owner_sid = world.users[self.owner[5:]]
        elif self.owner.startswith("other_user:"):
            owner_sid = world.other_users[self.owner[11:]]
        else:
            owner_sid = world.conversation(self.owner)
        return self.prefix + owner_sid[2:]


readable_refs = st.builds(ObjectRef, st.sampled_from(["ET", "ES", "ES", "MP"]), st.just("ours")) | st.builds(
    ObjectRef, st.sampled_from(["MU", "MC"]), st.just("user:alice")
)
forbidden_refs = st.builds(ObjectRef, st.sampled_from(["ET", "ES", "MP"]), st.sampled_from(["theirs", "elsewhere"]))
user_refs = st.builds(
    ObjectRef, st.sampled_from(["MU", "MC"]), st.sampled_from(["user:bob", "user:carol", "other_user:alice"])
)
NEAR_SIDS = ["ET" + "A" * 32, "MP" + "0" * 31, "CH" + "0" * 32, "ET" + "0" * 32 + "\x00"]
junk_sids = hostile_text | st.sampled_from(NEAR_SIDS)
object_refs = weighted(
    (5, readable_refs),
    (2, forbidden_refs),
    (1, user_refs),
    (1, st.builds(lambda p, h: ObjectRef(p, "literal", p + h), st.sampled_from(list(PATH_OF_PREFIX)), hex32)),
    (1, junk_sids.map(lambda text: ObjectRef("", "literal", text))),
)
PARAM_TEXT = [
    "0", "1", "-1", "50", "100", "101", "9" * 19, "9" * 20, "-" + "9" * 20, "asc", "desc", "DESC", "sideways", "",
    " 5", "5 ", "+5", "1.5", "0x10", "1_0", "\u0663", "after:", "after:zz", "before", "items", "attributes",
    "friendlyName", "MB" + "0" * 32,
]  # fmt: skip
NUMBER_EDGES = ["-1", "0", "101", "9" * 19, "9" * 20, "-" + "9" * 20, "9" * 5000]
param_values = weighted(
    (3, st.sampled_from(NUMBER_EDGES)), (3, st.sampled_from(PARAM_TEXT)), (2, hostile_text), (1, json_values)
)
sync_params = weighted(
    (19, st.dictionaries(st.sampled_from(["PageSize", "From", "From", "Order", "Key", "Index", "Index", "PageToken",
                                          "Include"]), param_values, max_size=3)),
    (1, json_values),
)  # fmt: skip
item_keys = weighted((2, st.sampled_from(NUMBER_EDGES)), (2, st.sampled_from(PARAM_TEXT)), (2, hostile_text))
sync_tails = weighted(
    (3, st.just(())), (4, st.just(("Items",))), (3, item_keys.map(lambda key: ("Items", key))),
    (1, st.just(("Items", "extra", "more"))),
)  # fmt: skip


@dataclass(frozen=True)
class SyncRead:
    type_path: str
    ref: ObjectRef
    tail: tuple[str, ...]
    params: Any

    def path(self, world: World) -> str:
        return "/".join(["/v3", self.type_path, self.ref.resolve(world), *self.tail])


@st.composite
def sync_reads(draw: st.DrawFn) -> SyncRead:
    ref = draw(object_refs)
    matching = PATH_OF_PREFIX.get(ref.prefix or ref.text[:2])
    if matching is not None and draw(st.integers(0, 4)) > 0:
        type_path = matching
    else:
        type_path = draw(st.sampled_from([*TYPE_PATHS, "Streams", "documents", ""]) | hostile_text)
    return SyncRead(type_path, ref, draw(sync_tails), draw(sync_params))


class Oracle:
    """Which Sync objects alice may read, asked of the database (the access rules in bridge/chat/access.py)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def readable(self, object_sid: Any) -> bool:
        obj = objects.parse(object_sid) if isinstance(object_sid, str) else None
        if obj is None:
            return False
        with self.world.live.database.transaction() as session:
            if obj.owner_sid.startswith("CH"):
                conversation = session.scalar(
                    select(Conversation).where(
                        Conversation.sid == obj.owner_sid, Conversation.service_id == self.world.service_id
                    )
                )
                if conversation is None:
                    return False
                if conversation.created_by == IDENTITY:
                    return True
                joined = select(Participant.id).where(
                    Participant.conversation_id == conversation.id, Participant.identity == IDENTITY
                )
                return session.scalar(joined) is not None
            user = session.scalar(
                select(User).where(User.sid == obj.owner_sid, User.service_id == self.world.service_id)
            )
            return user is not None and (obj.kind != "my_conversations" or user.identity == IDENTITY)


def event_objects(payload: Any) -> list[Any]:
    """The object SIDs a Sync event notification is about (none for subscription notifications)."""
    event = payload.get("event") if isinstance(payload, dict) else None
    if not isinstance(event, dict):
        return []
    return [event[f"{kind}_sid"] for kind in ("document", "list", "map") if f"{kind}_sid" in event]


class SyncClient:
    """alice's socket for Sync: every notification it is sent is checked against the oracle."""

    def __init__(self, world: World, findings: Findings) -> None:
        self.oracle = Oracle(world)
        self.findings = findings
        self.client = world.connect()
        self.seen = 0
        self.events: Counter[str] = Counter()  # object SID -> events received

    def check_notifications(self, operation: str, reproduce: str) -> list[Any]:
        """The payloads that arrived since the last call; an event of an object alice may not read is a leak."""
        fresh = self.client.notifications[self.seen :]
        self.seen = len(self.client.notifications)
        payloads = []
        for frame in fresh:
            if frame.method != "notification":
                continue
            payload = frame.json_payload()
            payloads.append(payload)
            for sid in event_objects(payload):
                self.events[str(sid)] += 1
                if not self.oracle.readable(sid):
                    problem = f"an event of {sid}, which alice may not read: {shown(payload, 300)}"
                    self.findings.add(operation, problem, None, reproduce)
            if isinstance(payload, dict) and payload.get("event_type") == "subscription_established":
                for entry in payload.get("events") or []:
                    if not self.oracle.readable(entry.get("object_sid")):
                        problem = f"established {entry.get('object_sid')!r}, which alice may not read"
                        self.findings.add(operation, problem, None, reproduce)
        return payloads

    def request(self, http: Any, payload_type: str | None, body: str) -> Frame:
        rid, frame = message_frame(http, body, payload_type)
        self.client.socket.send(frame)
        return self.client.reply_to(rid, self.findings.timeout)

    def drain(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            self.client.reply_to("(none)", seconds)


def test_generated_sync_reads_are_answered_below_500(world: World, bystander: RawClient, error_log: ErrorLog) -> None:
    findings = Findings("gateway-sync-read")
    sync = SyncClient(world, findings)

    def one(case: SyncRead) -> None:
        http: Any = {"host": "cds.us1.twilio.com", "path": case.path(world), "method": "GET"}
        if case.params is not None:
            http["params"] = case.params
        type_path = case.type_path if case.type_path in TYPE_PATHS else "*"
        operation = "/".join([f"GET /v3/{type_path}", case.ref.prefix or "*", *case.tail[:1]])
        reproduce = shown(http)
        try:
            reply = sync.request(http, None, "")
        except TimeoutError:
            findings.unanswered(operation, "gateway-sync-read", error_log, reproduce)
            return
        status = findings.judge(operation, "gateway-sync-read", reply, reproduce)
        if status == 200 and not sync.oracle.readable(case.ref.resolve(world)):
            findings.add(operation, "read an object alice may not read", status, reproduce)
        findings.logged(error_log, reproduce)
        sync.check_notifications(operation, reproduce)

    try:
        run_examples(SYNC_READ_EXAMPLES, sync_reads(), one)
        check_gateway_alive(world, bystander, error_log, findings, "sync reads", "(after the run)")
    finally:
        sync.client.close()
    assert not findings.smallest, findings.report()


entries = weighted(
    (4, st.fixed_dictionaries(
        {"object_sid": object_refs},
        optional={"object_type": st.sampled_from(["document", "list", "map", "stream"]) | json_values,
                  "last_event_id": weighted((2, st.sampled_from([0, 1, -1])), (1, big_ints), (1, json_values))})),
    (1, json_values.map(lambda junk: ("junk", junk))),
)  # fmt: skip
entry_lists = weighted(
    (12, st.lists(entries, max_size=5)),
    (1, st.tuples(entries, st.sampled_from([99, 100, 101])).map(lambda c: [c[0]] * c[1])),  # around the limit
)


@dataclass(frozen=True)
class SubscriptionCase:
    junk: bool  # a body that is no subscription request (`extra` alone)
    action: Any
    correlation_id: Any
    entries: tuple[Any, ...]
    extra: Any
    encoding: str

    def body(self, world: World) -> tuple[Any, str | None, str]:
        """The request body (as a value), its payload_type and its text."""
        if self.junk:
            value: Any = self.extra
        else:
            wanted = [e[1] if isinstance(e, tuple) else {**e, "object_sid": e["object_sid"].resolve(world)}
                      for e in self.entries]  # fmt: skip
            value = {"event_protocol_version": 4, "action": self.action, "correlation_id": self.correlation_id,
                     "retried_requests": 0, "ttl_in_s": -1, "requests": wanted}  # fmt: skip
            if isinstance(self.extra, dict):
                value.update(self.extra)
        match self.encoding:
            case "json_string":
                return value, "application/json", json.dumps(json.dumps(value))
            case "text":
                return value, "text/plain", "not json " + json.dumps(value)
        return value, "application/json", json.dumps(value)


subscription_cases = st.builds(
    SubscriptionCase,
    st.integers(0, 9).map(lambda n: n == 0),
    weighted((4, st.just("establish")), (1, st.just("cancel")), (1, json_values)),
    weighted((3, st.integers(0, 2**53)), (1, json_values)),
    entry_lists.map(tuple),
    weighted((3, st.none()), (1, json_values), (1, st.dictionaries(st.sampled_from(["requests", "action"]),
                                                                   json_values, max_size=1))),
    st.sampled_from(["json"] * 8 + ["json_string", "text"]),
)  # fmt: skip
SUBSCRIPTIONS = {"host": "cds.us1.twilio.com", "path": "/v4/Subscriptions", "method": "POST"}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def test_generated_subscriptions_fail_as_notifications_and_leak_nothing(
    world: World, bystander: RawClient, error_log: ErrorLog
) -> None:
    findings = Findings("gateway-subscription")
    sync = SyncClient(world, findings)

    def expected(value: Any) -> tuple[str, list[str], list[str]] | None:
        """(action, SIDs to be established, SIDs to fail) as the gateway should answer `value`; None: a 400."""
        if not isinstance(value, dict) or not isinstance(value.get("requests"), list) or len(value["requests"]) > 100:
            return None
        sids = [str(e.get("object_sid") or "") for e in value["requests"] if isinstance(e, dict)]
        readable = [sid for sid in sids if sync.oracle.readable(sid)]
        action = "cancel" if value.get("action") == "cancel" else "establish"
        return action, readable, [sid for sid in sids if sid not in readable]

    def one(case: SubscriptionCase) -> None:
        value, payload_type, text = case.body(world)
        if case.encoding != "json":
            value = None  # never a JSON object: a 400
        reproduce = shown({"payload_type": payload_type, "body": text})
        operation = f"POST /v4/Subscriptions ({'junk' if case.junk else 'request'}, {case.encoding})"
        try:
            reply = sync.request(SUBSCRIPTIONS, payload_type, text)
        except TimeoutError:
            findings.unanswered(operation, "gateway-subscription", error_log, reproduce)
            return
        status = findings.judge(operation, "gateway-subscription", reply, reproduce)
        outcome = expected(value)
        # An action other than establish or cancel: a 400 (or, as the gateway once did, taken as establish). NUL
        # anywhere in a request: a 400 too (the REST API refuses them as well).
        nul = "\x00" in text or "\\u0000" in text
        strict = outcome is not None and value.get("action") in ("establish", "cancel") and not nul
        if outcome is None:
            if status != 400:
                findings.add(operation, f"{status} for a body that is no subscription request", status, reproduce)
        elif status == 202:
            await_answers(sync, findings, operation, reproduce, value.get("correlation_id"), *outcome)
        elif strict or status != 400:
            findings.add(operation, f"{status} for a subscription request", status, reproduce)
        findings.logged(error_log, reproduce)
        sync.check_notifications(operation, reproduce)

    try:
        run_examples(SUBSCRIPTION_EXAMPLES, subscription_cases, one)
        live_events_reach_only_readers(world, sync, findings)
        check_gateway_alive(world, bystander, error_log, findings, "subscriptions", "(after the run)")
    finally:
        sync.client.close()
    assert not findings.smallest, findings.report()


def await_answers(
    sync: SyncClient,
    findings: Findings,
    operation: str,
    reproduce: str,
    correlation_id: Any,
    action: str,
    established: list[str],
    failed: list[str],
) -> None:
    """Waits for the notifications that answer one subscription request (by correlation id) and checks them."""
    if action == "cancel":
        want = {"subscription_canceled"}
    else:  # nothing to establish and nothing failed: nothing is sent
        want = ({"subscription_established"} if established else set()) | ({"subscription_failed"} if failed else set())
    got: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + findings.timeout
    while not want <= set(got) and time.monotonic() < deadline:
        for payload in sync.check_notifications(operation, reproduce):
            if isinstance(payload, dict) and canonical(payload.get("correlation_id")) == canonical(correlation_id):
                got[str(payload.get("event_type"))] = payload
        if not want <= set(got):
            sync.drain(0.05)
    if not want <= set(got):
        findings.hung(operation, reproduce, f"never sent {sorted(want - set(got))}")
        return
    if "subscription_failed" in got:
        events = got["subscription_failed"].get("events") or []
        named = [e.get("object_sid") for e in events]
        if sorted(named) != sorted(failed):
            findings.add(operation, f"subscription_failed for {named}, expected {failed}", None, reproduce)
        for event in events:
            error = event.get("error")
            if not isinstance(error, dict) or error.get("status") not in (403, 404) or "code" not in error:
                findings.add(operation, f"a failure without a 403/404 error: {event!r}", None, reproduce)
    if "subscription_established" in got:
        named = [e.get("object_sid") for e in got["subscription_established"].get("events") or []]
        if sorted(named) != sorted(established):
            findings.add(operation, f"established {named}, expected {established}", None, reproduce)


def live_events_reach_only_readers(world: World, sync: SyncClient, findings: Findings) -> None:
    """After the generated subscriptions: alice asks for every conversation's objects (and a conversation she is
    about to leave); then every conversation changes, after she has left that one. Only what she may read reaches
    her, and what she follows does."""
    leaving, _, members = world.make_conversation("/v1/Conversations", "leaving", None, [IDENTITY, "bob"])
    sids = [world.conversation(role) for role in ROLES] + [leaving]
    wanted = [{"object_sid": obj.sid, "object_type": obj.type, "last_event_id": 0}
              for sid in sids for obj in objects.conversation_objects(sid)]  # fmt: skip
    wanted.append({"object_sid": objects.of("my_conversations", world.users["bob"]).sid, "object_type": "map"})
    body = {"action": "establish", "correlation_id": "live", "requests": wanted}
    assert http_status(sync.request(SUBSCRIPTIONS, "application/json", json.dumps(body))) == 202
    sync.drain(0.5)
    sync.check_notifications("live events", "(subscribe)")
    world.rest("DELETE", f"/v1/Conversations/{leaving}/Participants/{members[0]}")  # alice leaves
    sync.drain(0.5)  # what her leaving itself sends
    sync.seen = len(sync.client.notifications)
    sync.events.clear()
    for role in [*ROLES, "leaving"]:
        collection, sid = (world.collection(role), world.conversation(role)) if role != "leaving" else (
            "/v1/Conversations", leaving)  # fmt: skip
        world.rest("POST", f"{collection}/{sid}/Messages", {"Author": "bob", "Body": f"live in {role}"})
        world.rest("POST", f"{collection}/{sid}", {"Attributes": json.dumps({"touched": role})})
    world.rest("POST", "/v1/Conversations", {"FriendlyName": "bob's new"})
    ours_list = objects.of("messages", world.ours).sid
    deadline = time.monotonic() + REPLY_TIMEOUT
    while time.monotonic() < deadline and sync.events[ours_list] == 0:
        sync.drain(0.2)
        sync.check_notifications("live events", "(REST writes in every conversation; alice left one)")
    sync.drain(1.0)  # anything else that would come
    sync.check_notifications("live events", "(REST writes in every conversation; alice left one)")
    TALLY.count("live events", "gateway-subscription", None)
    if sync.events[ours_list] == 0:
        findings.add("live events", "no event of ours' messages after a message in it", None, "(live)")


# --- 4. the push registry -----------------------------------------------------------------------------------------

SDK_MESSAGE_TYPES = [
    "twilio.conversations.new_message",
    "twilio.conversations.added_to_conversation",
    "twilio.conversations.removed_from_conversation",
    "twilio.ipmsg.typing_indicator",
    "twilio.channel.consumption_update",
]
registration_bodies = weighted(
    (
        4,
        st.fixed_dictionaries(
            {
                "channel_type": weighted((4, st.sampled_from(["fcm", "apn"])), (1, json_values)),
                "data": weighted(
                    (4, st.fixed_dictionaries({"registration_id": weighted((3, hex32), (1, json_values))})),
                    (1, json_values),
                ),
                "message_types": weighted((3, st.just(SDK_MESSAGE_TYPES)), (1, json_values)),
                "endpoint_platform": weighted((3, st.just("web")), (1, json_values)),
            }
        ),
    ),
    (2, st.fixed_dictionaries({"binding_type": weighted((3, st.just("fcm")), (1, json_values)), "address": hex32})),
    (1, json_values),
)


@dataclass(frozen=True)
class RegistryCase:
    method: str
    tail: str  # after /v1/registrations; "/bob" names bob's binding, whatever its SID
    body: Any
    params: Any


registry_cases = st.builds(
    RegistryCase,
    st.sampled_from(["POST", "POST", "DELETE", "DELETE", "GET", "PUT"]),
    weighted(
        (3, st.just("")), (2, st.just("/bob")), (1, sid_like("BS").map(lambda sid: "/" + sid)),
        (1, hostile_text.map(lambda text: "/" + quote(text))),
    ),
    registration_bodies,
    weighted((4, st.just({"productId": "ip_messaging"})), (1, st.dictionaries(st.text(max_size=8), hostile_text))),
)  # fmt: skip
REGISTRY_EXAMPLES = int(100 * SCALE)


def test_generated_push_registrations_bind_only_the_callers_devices(
    world: World, bystander: RawClient, error_log: ErrorLog
) -> None:
    """Registry requests of any shape from alice: replies below 500 with Twilio-style errors; whatever she sends,
    bob's device stays his, and every binding she makes is hers, in her token's service."""
    findings = Findings("gateway-registry")
    with world.live.database.transaction() as session:
        service = session.get(ConversationService, world.service_id)
        assert service is not None
        registration = bindings.Registration("fcm", "bob-device-token", SDK_MESSAGE_TYPES)
        bobs = bindings.register(session, service, "bob", None, registration).sid
    client = world.connect()

    def one(case: RegistryCase) -> None:
        path = "/v1/registrations" + (f"/{bobs}" if case.tail == "/bob" else case.tail)
        http = {"host": "ers.us1.twilio.com", "path": path, "method": case.method, "params": case.params,
                "headers": {"Content-Type": "application/json"}}  # fmt: skip
        body = json.dumps(case.body)
        reproduce = shown({"http_request": http, "body": body})
        operation = f"{case.method} /v1/registrations{'/{id}' if case.tail else ''}"
        rid, frame = message_frame(http, body)
        client.socket.send(frame)
        try:
            reply = client.reply_to(rid, findings.timeout)
        except TimeoutError:
            findings.unanswered(operation, "gateway-registry", error_log, reproduce)
            return
        status = findings.judge(operation, "gateway-registry", reply, reproduce)
        with world.live.database.transaction() as session:
            rows = session.execute(select(PushBinding.sid, PushBinding.identity, PushBinding.service_id)).all()
        if (bobs, "bob", world.service_id) not in rows:
            findings.add(operation, "bob's binding was removed or moved", status, reproduce)
        for sid, identity, service_id in rows:
            if sid != bobs and (identity, service_id) != (IDENTITY, world.service_id):
                findings.add(operation, f"a binding of {identity!r} in service {service_id}", status, reproduce)
        if status == 201 and reply.json_payload().get("id") not in {row[0] for row in rows}:
            findings.add(operation, f"201 naming no binding: {reply.payload[:200]}", status, reproduce)
        findings.logged(error_log, reproduce)

    try:
        run_examples(REGISTRY_EXAMPLES, registry_cases, one)
        check_gateway_alive(world, bystander, error_log, findings, "push registry", "(after the run)")
    finally:
        client.close()
        with world.live.database.transaction() as session:
            session.execute(delete(PushBinding))
    assert not findings.smallest, findings.report()
