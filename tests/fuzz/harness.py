"""The fuzz suite's engine: schemathesis cases for one operation of /openapi.json, sent to the live bridge, every
response checked, everything counted.

Per operation, Hypothesis draws `EXAMPLES` positive and `EXAMPLES` negative cases (missing, extra and wrong-typed
parameters; negated credentials). Path parameters are often swapped for SIDs of resources the suite seeded, so the
cases reach past the 404. Each case is sent with real credentials (`BridgeAuth`: the account's, the admin's, or a
Twilio signature for the carrier webhooks), and:

- every response must pass the checks below (no 5xx; status documented; body matching its schema, also under the
  suite's stricter spec checker);
- a positive case is first sent with junk parameters added (unknown names, random values): the Twilio-compatible
  API must ignore them, the admin API must refuse them (400);
- the first positive cases are also sent with bad credentials (none, wrong, the other API's; for webhooks: no, a
  wrong or a wrongly keyed signature): 401 or 403, never anything else.

Failures are collected, not raised inside Hypothesis: one run reports all of them, each with a curl command.
"""

from __future__ import annotations

import base64
import os
import random
import shlex
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import requests
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from bridge.openapi.document import UNKNOWN_PARAMETERS
from tests.support.live import LiveBridge

# Cases per operation and generation mode. The default keeps the regular run to about a minute; scripts/fuzz
# runs thousands (BRIDGE_FUZZ_EXAMPLES=100 and up).
EXAMPLES = int(os.environ.get("BRIDGE_FUZZ_EXAMPLES", "8"))
SEED = os.environ.get("BRIDGE_FUZZ_SEED")  # a fixed Hypothesis seed, to replay a run exactly
AUTH_PROBES = 2  # positive cases per operation that are also sent with bad credentials
HOSTILE_PER_FIELD = max(3, EXAMPLES // 2)  # hostile values per declared field in each operation's sweep
# Longer query strings meet the HTTP server's request-line limit (gunicorn: 4094 bytes, a 400 of its own) before
# the bridge sees them; long values go in bodies.
MAX_QUERY_VALUE = 2000
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
FORM = "application/x-www-form-urlencoded"
UNSIGNED_SENDS = ("bad-credentials", "unsigned-webhook")  # webhook sends whose signature is wrong on purpose


@dataclass(frozen=True)
class Credentials:
    public_url: str
    account_sid: str
    auth_token: str
    admin_username: str
    admin_password: str
    carrier_token: str
    metrics_token: str
    chat_token: str  # a chat client's access token for the default service (the media service takes it)

    @classmethod
    def of(cls, live: LiveBridge) -> Credentials:
        s = live.settings
        return cls(
            s.public_base_url,
            s.account_sid,
            s.auth_token,
            s.admin_username,
            s.admin_password,
            carrier_token(live),
            s.metrics_token,
            chat_token(live),
        )


def carrier_token(live: LiveBridge) -> str:
    from bridge.carriers import carrier_auth_token

    return carrier_auth_token(live.settings) or ""


def chat_token(live: LiveBridge, identity: str = "fuzz-user") -> str:
    from bridge import access_tokens, accounts

    with live.database.transaction() as session:
        key, service = accounts.token_key(session), accounts.default_service(session)
        key_sid, secret, service_sid = key.sid, key.secret, service.sid
    return access_tokens.mint(live.settings.account_sid, key_sid, secret, identity, service_sid)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# --- who an operation trusts --------------------------------------------------------------------------------------

API, ADMIN, SIGNED, METRICS, CHAT, PUBLIC = "api", "admin", "signed", "metrics", "chat", "public"


def kind_of(operation: APIOperation) -> str:
    """Which credentials an operation takes, from its `security` in the document (absent: the account's)."""
    security = operation.definition.raw.get("security")
    if security is None:
        return API
    schemes = {name for requirement in security for name in requirement}
    if not schemes:
        return PUBLIC
    if "adminBasic" in schemes:
        return ADMIN
    if "twilioSignature" in schemes:
        return SIGNED
    if "metricsToken" in schemes:
        return METRICS
    if "chatAccessToken" in schemes:
        return CHAT
    return API


def refuses_unknown_parameters(operation: APIOperation) -> bool:
    return operation.definition.raw.get(UNKNOWN_PARAMETERS) == "refused"


# --- requests as sent ---------------------------------------------------------------------------------------------


def prepare(kwargs: dict[str, Any]) -> requests.PreparedRequest:
    fields = ("method", "url", "headers", "params", "data", "json", "files", "cookies", "auth")
    return requests.Request(**{k: kwargs[k] for k in fields if k in kwargs}).prepare()


def signature(prepared: requests.PreparedRequest, public_url: str, token: str) -> str:
    """What Twilio would send as X-Twilio-Signature for this exact request: the public URL with the query string
    as sent, and the form fields as sent (Twilio only posts form-encoded bodies)."""
    split = urlsplit(prepared.url or "")
    url = public_url + split.path + (f"?{split.query}" if split.query else "")
    fields: MultiDict[str, str] = MultiDict()
    if (prepared.headers.get("Content-Type") or "").startswith(FORM):
        body = prepared.body or b""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        fields = MultiDict(parse_qsl(text, keep_blank_values=True))
    return RequestValidator(token).compute_signature(url, fields)


def curl(prepared: requests.PreparedRequest) -> str:
    parts = ["curl", "-X", prepared.method or "GET", shlex.quote(prepared.url or "")]
    for name, value in prepared.headers.items():
        if name.lower() not in ("user-agent", "accept-encoding", "connection", "content-length"):
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    body = prepared.body
    if body:
        text = body.decode("utf-8", "backslashreplace") if isinstance(body, bytes) else body
        parts += ["--data-binary", shlex.quote(text[:2000])]
    return " ".join(parts)


def register_auth(schema: BaseSchema, credentials: Credentials) -> None:
    """A schemathesis auth provider: the right real credentials for each operation. Schemathesis skips it for a
    case whose credentials it negated on purpose (those must be refused)."""

    class BridgeAuth:
        def get(self, case: Case, context: Any) -> str | None:
            kind = kind_of(context.operation)
            return None if kind == PUBLIC else kind

        def set(self, case: Case, kind: str, context: Any) -> None:
            if kind == API:
                case.headers["Authorization"] = basic(credentials.account_sid, credentials.auth_token)
            elif kind == ADMIN:
                case.headers["Authorization"] = basic(credentials.admin_username, credentials.admin_password)
            elif kind == METRICS:
                case.headers["Authorization"] = f"Bearer {credentials.metrics_token}"
            elif kind == CHAT:
                case.headers["X-Twilio-Token"] = credentials.chat_token
            else:  # signed on the request as it will be sent (path, query and form exactly as serialized)
                case.headers.pop("X-Twilio-Signature", None)
                prepared = prepare(case.as_transport_kwargs(base_url=credentials.public_url))
                case.headers["X-Twilio-Signature"] = signature(
                    prepared, credentials.public_url, credentials.carrier_token
                )

    # No caching (each webhook's signature is its own) and no re-authentication on a 401 (a 401 is an answer).
    schema.auth(refresh_interval=None, retry_on=[])(BridgeAuth)


# --- counting -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    operation: str
    kind: str  # which send: generated-positive, generated-negative, unknown-parameters, bad-credentials
    problem: str
    status: int | None
    reproduce: str


@dataclass
class Tally:
    """Requests sent and failures found, for the whole session (printed at its end)."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    operations: set[str] = field(default_factory=set)
    failures: list[Finding] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, operation: str, kind: str, status: int | None) -> None:
        with self.lock:
            self.requests[kind] += 1
            self.operations.add(operation)
            if status is not None:
                self.statuses[status // 100 * 100] += 1

    def fail(self, finding: Finding) -> None:
        with self.lock:
            self.failures.append(finding)

    def of(self, operation: str) -> list[Finding]:
        return [f for f in self.failures if f.operation == operation]

    def summary(self) -> list[str]:
        total = sum(self.requests.values())
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.requests.items()))
        classes = ", ".join(f"{n} {c // 100}xx" for c, n in sorted(self.statuses.items()))
        distinct = {(f.operation, f.problem.split("\n")[0], f.status) for f in self.failures}
        lines = [
            f"fuzz: {total} requests over {len(self.operations)} operations ({kinds}); "
            f"{EXAMPLES} cases per operation and mode",
            f"fuzz: responses {classes or 'none'}",
            f"fuzz: {len(self.failures)} failures ({len(distinct)} distinct)",
        ]
        lines += [f"  {op} -> {status}: {problem}" for op, problem, status in sorted(distinct, key=str)]
        return lines


TALLY = Tally()


# --- the run ------------------------------------------------------------------------------------------------------


@dataclass
class Fuzzer:
    schema: BaseSchema
    live: LiveBridge
    credentials: Credentials
    path_seeds: Callable[[str, str], list[Any]]  # (path template, parameter) -> values that name seeded resources
    tally: Tally = field(default_factory=lambda: TALLY)
    http: requests.Session = field(default_factory=requests.Session)

    def run(self, operation: APIOperation) -> list[Finding]:
        """Generated cases in both modes for `operation`; returns the failures found."""
        before = len(self.tally.of(operation.label))
        self.live.checker.take()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode == GenerationMode.NEGATIVE and not (list(operation.iter_parameters()) or operation.body):
                continue  # nothing to make invalid (GET /openapi.json)
            self._generate(operation, mode)
        return self.tally.of(operation.label)[before:]

    def run_unsigned(self, operation: APIOperation) -> list[Finding]:
        """Generated webhook requests without a valid signature (none, or a forged one): every one is refused with
        a 403 before its body is read (404/405 only where the generated path matches no route)."""
        before = len(self.tally.of(operation.label))
        self.live.checker.take()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode), forged=st.none() | FORGED_SIGNATURE)
            def cases(case: Case, forged: str | None) -> None:
                kwargs = self._kwargs(case)
                headers = {k: v for k, v in kwargs["headers"].items() if k.lower() != "x-twilio-signature"}
                if forged is not None:
                    headers["X-Twilio-Signature"] = forged
                response = self._send(operation, case, "unsigned-webhook", {**kwargs, "headers": headers})
                if response is not None and response.status_code not in (403, 404, 405):
                    self._fail(operation, "unsigned-webhook", response, f"unsigned, yet {response.status_code}")

            if SEED is not None:
                cases = seed(int(SEED))(cases)
            cases()
        return self.tally.of(operation.label)[before:]

    def _generate(self, operation: APIOperation, mode: GenerationMode) -> None:
        strategies: dict[tuple[tuple[str, Any], ...], Any] = {}
        probes = [0]
        fields = self._fields(operation)
        bases: list[tuple[int, Case]] = []  # positive cases and their status: the sweep starts from an accepted one

        def strategy(fixed: tuple[tuple[str, Any], ...]) -> Any:
            if fixed not in strategies:
                strategies[fixed] = operation.as_strategy(generation_mode=mode, path_parameters=dict(fixed) or None)
            return strategies[fixed]

        @settings(
            max_examples=EXAMPLES,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        @given(data=st.data())
        def cases(data: st.DataObject) -> None:
            fixed = data.draw(self._seeded_path(operation), label="seeded path parameters")
            case = data.draw(strategy(fixed), label="case")
            if mode == GenerationMode.NEGATIVE or self.schema.is_security_param_negated(case):
                self._negative(operation, case)
                return
            junk = data.draw(JUNK, label="unknown parameters")
            nasty = data.draw(st.sampled_from(fields), label="field") if fields else None
            value = data.draw(HOSTILE, label="hostile value")
            repeated = data.draw(st.booleans(), label="repeated")
            status = self._positive(operation, case, probes, junk, (nasty, value, repeated) if nasty else None)
            if status is not None and status not in (401, 403):
                bases.append((status, case))

        if SEED is not None:
            cases = seed(int(SEED))(cases)
        cases()
        if bases:
            self._sweep(operation, min(bases, key=lambda b: b[0] >= 300)[1], fields)

    def _sweep(self, operation: APIOperation, base: Case, fields: list[tuple[bool, str]]) -> None:
        """Hostile values in each declared field of a request the bridge accepted (or at least read), one field at
        a time, so the value meets the code that reads that field rather than another field's 400."""
        rng = random.Random(f"{SEED}:{operation.label}" if SEED is not None else None)
        kind, body = kind_of(operation), self._body_place(operation, base)
        short = [v for v in HOSTILE_STRINGS if len(quote(v)) <= MAX_QUERY_VALUE]
        for in_query, name in fields:
            place = "query" if in_query else body
            values = [[v] for v in rng.sample(HOSTILE_STRINGS, min(len(HOSTILE_STRINGS), HOSTILE_PER_FIELD))]
            values += [[rng.choice(bombs)] for bombs in PARSER_BOMBS.values()]
            for group in [*values, rng.sample(short, 2)]:  # and one repeated key per field
                if place == "query" and any(len(quote(v)) > MAX_QUERY_VALUE for v in group):
                    continue
                additions = [(place, name, v) for v in group]
                if operation.definition.raw.get("operationId") == "ReceiveInboundMessage" and name != "MessageSid":
                    # A MessageSid seen before is a carrier retry, answered 200 with nothing stored.
                    additions.append((body, "MessageSid", "SM" + rng.randbytes(16).hex()))
                self._send(operation, base, "hostile-values", self._variant(base, kind, additions, replace=True))
        if any(declared.media_type == "application/json" for declared in operation.body):
            for bombs in PARSER_BOMBS.values():
                self._send(operation, base, "hostile-values", self._raw_json_body(base, rng.choice(bombs)))

    def _raw_json_body(self, case: Case, text: str) -> dict[str, Any]:
        """The case's request with `text` as its whole JSON body, as sent by a client that writes its own JSON."""
        kwargs = self._kwargs(case)
        kwargs.pop("json", None)
        kwargs["data"] = text.encode("utf-8", "surrogatepass")
        kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/json"}
        return kwargs

    def _seeded_path(self, operation: APIOperation) -> Any:
        """Each path parameter: often a seeded resource's SID (or name), else whatever schemathesis generates."""
        choices = []
        for param in operation.iter_parameters():
            if param.location.value != "path":
                continue
            values = self.path_seeds(operation.path, param.name)
            if values:
                choices.append(st.one_of(st.none(), st.sampled_from(values)).map(lambda v, name=param.name: (name, v)))
        return st.tuples(*choices).map(lambda pairs: tuple(p for p in pairs if p[1] is not None))

    def _negative(self, operation: APIOperation, case: Case) -> None:
        response = self._send(operation, case, "generated-negative", self._kwargs(case))
        if response is None or not self.schema.is_security_param_negated(case) or kind_of(operation) == PUBLIC:
            return
        # 404/405: the negated path matches no route (the admin API authenticates matched routes only);
        # 429: the admin sign-in limit, which wrong credentials count against.
        if response.status_code not in (401, 403, 404, 405, 429):
            self._fail(operation, "generated-negative", response, "credentials negated on purpose, yet not refused")

    def _positive(
        self,
        operation: APIOperation,
        case: Case,
        probes: list[int],
        junk: list[tuple[str, str]],
        nasty: tuple[tuple[bool, str], str, bool] | None,
    ) -> int | None:
        """Sends a positive case (first with unknown parameters, then as generated, then with a hostile value, then
        with bad credentials); returns the plain send's status."""
        kind = kind_of(operation)
        declared = {name.lower() for _, name in self._fields(operation)} | {
            p.name.lower() for p in operation.iter_parameters()
        }
        unknown = [(name, value) for name, value in junk if name.lower() not in declared]
        # Sent first: a refused request changes nothing, so the plain one that follows meets the same state.
        with_junk = None
        body = self._body_place(operation, case)
        if unknown:
            place = body if operation.method.upper() == "POST" else "query"
            with_junk = self._send(
                operation, case, "unknown-parameters", self._variant(case, kind, [(place, n, v) for n, v in unknown])
            )
        plain = self._send(operation, case, "generated-positive", self._kwargs(case))
        if with_junk is not None and plain is not None:
            self._compare_junk(operation, with_junk, plain)
        if nasty is not None:
            (in_query, name), value, repeated = nasty
            place = "query" if in_query else body
            value = value if place != "query" else value[: MAX_QUERY_VALUE // 9]
            additions = [(place, name, value)] if not repeated else [(place, name, value), (place, name, value[::-1])]
            self._send(operation, case, "hostile-values", self._variant(case, kind, additions, replace=True))
        if kind != PUBLIC and probes[0] < AUTH_PROBES:
            probes[0] += 1
            self._bad_credentials(operation, case, kind)
        return plain.status_code if plain is not None else None

    # -- sending and checking --

    def _kwargs(self, case: Case) -> dict[str, Any]:
        return case.as_transport_kwargs(base_url=self.credentials.public_url)

    def _send(self, operation: APIOperation, case: Case, label: str, kwargs: dict[str, Any]) -> Response | None:
        prepared = prepare(kwargs)
        try:
            raw = self.http.send(prepared, timeout=60, allow_redirects=False)
        except requests.RequestException as exc:
            self.tally.count(operation.label, label, None)
            self.tally.fail(Finding(operation.label, label, f"no response: {exc!r}", None, curl(prepared)))
            return None
        response = Response.from_any(raw)
        self.tally.count(operation.label, label, response.status_code)
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                detail = f"{failure.title}: {failure.message}".strip()
                self.tally.fail(Finding(operation.label, label, detail, response.status_code, curl(prepared)))
        for problem in self.live.checker.take():  # the suite's stricter checker (tests/support/spec.py)
            self.tally.fail(Finding(operation.label, label, problem, response.status_code, curl(prepared)))
        signed = kind_of(operation) == SIGNED and label not in UNSIGNED_SENDS
        # A path with escapes is never one Twilio calls (the bridge builds its callback URLs from hex SIDs), and
        # the bridge signs what it routes on, the decoded path: such a request may be refused.
        plain_path = "%" not in urlsplit(prepared.url or "").path
        if signed and response.status_code == 403 and plain_path and not self.schema.is_security_param_negated(case):
            self._fail_raw(operation, label, response, prepared, "a correctly signed webhook was refused (403)")
        return response

    def _fail(self, operation: APIOperation, label: str, response: Response, problem: str) -> None:
        self._fail_raw(operation, label, response, response.request, problem)

    def _fail_raw(self, operation: APIOperation, label: str, response: Response, prepared: Any, problem: str) -> None:
        self.tally.fail(Finding(operation.label, label, problem, response.status_code, curl(prepared)))

    # -- request variants: unknown parameters, hostile values --

    def _fields(self, operation: APIOperation) -> list[tuple[bool, str]]:
        """(in the query?, name) of every declared query parameter and form/JSON body field."""
        found = {(True, p.name) for p in operation.iter_parameters() if p.location.value == "query"}
        for body in operation.body:
            if body.media_type in (FORM, "application/json"):
                found |= {(False, name) for name in (body.definition.get("schema") or {}).get("properties") or {}}
        return sorted(found)

    def _body_place(self, operation: APIOperation, case: Case) -> str:
        """Where an added body field goes in this case's request: its JSON, its form, or else the query."""
        if case.media_type == "application/json":
            return "json"
        return "form" if operation.method.upper() == "POST" and case.media_type in (FORM, None) else "query"

    def _variant(
        self, case: Case, kind: str, additions: list[tuple[str, str, str]], replace: bool = False
    ) -> dict[str, Any]:
        """The case's request with (where, name, value) added; `replace` drops the field's generated values first
        (two additions of one name make a repeated key). Webhooks are signed again: Twilio signs every field."""
        kwargs = self._kwargs(case)
        to_replace = {(place, name) for place, name, _ in additions} if replace else set()
        for place, name, value in additions:
            if place == "json":
                kwargs["json"] = {**(kwargs.get("json") or {}), name: value}
                continue
            key = "data" if place == "form" else "params"
            pairs = list(_pairs(kwargs.get(key) or {}))
            if (place, name) in to_replace:
                to_replace.discard((place, name))
                pairs = [(n, v) for n, v in pairs if n != name]
            kwargs[key] = [*pairs, (name, value)]
        if kind == SIGNED:
            headers = {k: v for k, v in kwargs["headers"].items() if k.lower() != "x-twilio-signature"}
            headers["X-Twilio-Signature"] = signature(
                prepare({**kwargs, "headers": headers}), self.credentials.public_url, self.credentials.carrier_token
            )
            kwargs["headers"] = headers
        return kwargs

    def _compare_junk(self, operation: APIOperation, junk: Response, plain: Response) -> None:
        if refuses_unknown_parameters(operation):
            if plain.status_code < 300 and junk.status_code != 400:
                self._fail(operation, "unknown-parameters", junk, "the admin API must refuse unknown parameters (400)")
            return
        changes_state = operation.method.upper() != "GET"
        # Sent first, a refused request changed nothing: if the plain one then succeeds, the junk was the reason.
        refused = junk.status_code >= 400 and plain.status_code < 300
        differs = junk.status_code // 100 != plain.status_code // 100
        if refused or (differs and not changes_state):
            self._fail(
                operation,
                "unknown-parameters",
                junk,
                f"unknown parameters not ignored: {junk.status_code} with them, {plain.status_code} without",
            )

    # -- bad credentials --

    def _bad_credentials(self, operation: APIOperation, case: Case, kind: str) -> None:
        c = self.credentials
        kwargs = case.as_transport_kwargs(base_url=c.public_url)
        if kind == SIGNED:
            variants: dict[str, str | None] = {
                "no signature": None,
                "a wrong signature": "c2lnbmF0dXJl",
                "signed with the bridge's API token": signature(prepare(kwargs), c.public_url, c.auth_token),
            }
            header, expected = "X-Twilio-Signature", 403
        elif kind == METRICS:
            variants = {
                "no credentials": None,
                "a wrong token": "Bearer " + "x" * len(c.metrics_token),
                "the API's credentials": basic(c.account_sid, c.auth_token),
                "the admin's credentials": basic(c.admin_username, c.admin_password),
            }
            header, expected = "Authorization", 401
        elif kind == CHAT:
            variants = {
                "no token": None,
                "a token that is no JWT": "not.a.token",
                "the API's credentials as a token": basic(c.account_sid, c.auth_token),
            }
            header, expected = "X-Twilio-Token", 401
        else:
            variants = {
                "no credentials": None,
                "a wrong password": basic(c.account_sid if kind == API else c.admin_username, "wrong"),
                "the other API's credentials": (
                    basic(c.admin_username, c.admin_password) if kind == API else basic(c.account_sid, c.auth_token)
                ),
            }
            header, expected = "Authorization", 401
        for what, value in variants.items():
            headers = {k: v for k, v in kwargs["headers"].items() if k.lower() != header.lower()}
            if value is not None:
                headers[header] = value
            response = self._send(operation, case, "bad-credentials", {**kwargs, "headers": headers})
            if response is not None and response.status_code != expected:
                self._fail(operation, "bad-credentials", response, f"{what}: {response.status_code}, not {expected}")
        reset_sign_in_limit(self.live)


def _pairs(values: Any) -> Iterator[tuple[str, Any]]:
    items = values.items() if isinstance(values, dict) else values
    for name, value in items:
        if isinstance(value, list):
            yield from ((name, v) for v in value)
        else:
            yield name, value


# What a forger might send as X-Twilio-Signature: printable ASCII (a header cannot carry anything else), and no
# surrounding spaces (HTTP strips them; requests refuses to send them).
FORGED_SIGNATURE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip)

# Unknown parameter names: letters, digits, dots and underscores, as Twilio's own are; any values.
JUNK = st.lists(
    st.tuples(
        st.from_regex(r"\A[A-Za-z][A-Za-z0-9_.]{0,15}\Z"),
        st.text(st.characters(codec="utf-8"), max_size=12),
    ),
    min_size=1,
    max_size=4,
)


# Values that broke parsers somewhere before: other scripts' digits (str.isdigit() says yes, int() says no), numbers
# past every column and past Python's int-parsing limit, NUL and direction marks, edge dates and durations,
# malformed addresses and SIDs, JSON where text goes, and very long text.
HOSTILE_STRINGS = [
    *("", " ", "\t\n", "0", "-1", "-0", "+1", "1.5", "1e309", "NaN", "-Infinity", "0x1F", "1_000", "007"),
    *("\u00b2", "\u0663", "\uff11\uff12", "\u2079\u2079", "9" * 10, "9" * 20, "-" + "9" * 20, "9" * 400, "9" * 5000),
    *("true", "FALSE", "yes", "null", "None", "[]", "{}", '{"a": [1, {"b": null}]}', '{"a":', "[1,2"),
    *("\x00", "a\x00b", "\u202e\u2066", "\ufeff", "\U0001f600" * 8, "e\u0301" * 4, "\u0130\u0131\u017f\u212a"),
    *("0000-00-00T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-01:00"),
    *(
        "0001-01-01T00:00:00+01:00",
        "2024-02-30T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01",
        "1h",
        "99999999999d",
        "9" * 5000 + "h",
    ),
    *("PT1M", "PT0S", "P3000000D", "P99999999999999D", "PT" + "9" * 30 + "M", "P1Y", "-PT1M"),
    *("+", "+1", "+" + "9" * 30, "whatsapp:", "whatsapp:+", "whatsapp:+14155550123", "sms:+14155550123", "messenger:x"),
    *("+1 (415) 555-0123", "+14155550123", "+12015550100", "+4420 7946 0958", "00 1 415 555 0123", "tel:+14155550123"),
    *("IS" + "0" * 32, "CH" + "g" * 32, "MG" + "0" * 31, "RL" + "F" * 32, "ME" + "0" * 32 + "\n", "SK" + "0" * 32),
    *("%00", "%", "%zz", "../../etc/passwd", "'; DROP TABLE users; --", "<script>alert(1)</script>", "a" * 70_000),
]
# JSON that breaks parsers, or parses and breaks what comes after: nesting past the parser's recursion limit
# (RecursionError, not ValueError), numbers past a double or past int parsing, long runs of escapes, lone surrogates
# (no UTF-8 encoder takes them, PostgreSQL's neither) and NULs in fields a reader of the object may store. All but the
# long integers fit the smallest attributes limit (4 KB). The sweep gives every field one of each kind, and every JSON
# body is also sent whole as one of each.
PARSER_BOMBS = {
    "deep nesting": ["[" * 3000, '{"a":' * 800, "[" * 1500 + "]" * 1500, '[{"":' * 700, '{"a": ' + "[" * 3000 + "}"],
    "huge numbers": ["1e999999", "-1e999999", "[1e400]", "9" * 4400, '{"n": ' + "9" * 4400 + "}", "Infinity"],
    "escape runs": ['"' + "\\" * 1500 + '"', '"' + "\\" * 1500 + '\\"', '"' + "\\u0000" * 600 + '"'],
    "surrogates and NULs": [
        '"\\ud800"',
        '["\\udc00\\ud800"]',
        '{"\\udfff": 1}',
        '{"identity": "\\ud800", "messaging_binding": {"address": "\\ud800", "proxy_address": "a\\u0000"}}',
        '{"identity": "a\\u0000", "address": "\\u0000", "friendly_name": "\\ud83d"}',
    ],
}
HOSTILE_STRINGS += [bomb for bombs in PARSER_BOMBS.values() for bomb in bombs]
HOSTILE = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.integers().map(str),
)


def reset_sign_in_limit(live: LiveBridge) -> None:
    """Bad-credential probes count against the admin sign-in limit; the next cases must not meet a 429."""
    from webhooks.admin import ratelimit

    live.app.extensions[ratelimit.EXTENSION].reset()
