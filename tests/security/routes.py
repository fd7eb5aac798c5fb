"""The URL map, classified: every route is exactly one of a few kinds, each with its own way of refusing strangers.

Shared by the security tests that enumerate routes (protection, isolation, CSRF, body limits), so that a route
added tomorrow is checked by all of them without anyone listing it.
"""

from __future__ import annotations

import base64
import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from flask import Flask
from sqlalchemy import select
from werkzeug.routing import Rule

from bridge.db import Database
from bridge.models import Base
from webhooks.app import API_PREFIXES


class Kind(enum.Enum):
    CARRIER_WEBHOOK = "carrier webhook (X-Twilio-Signature)"
    API = "REST API (HTTP Basic: account SID and token, or an API key)"
    ADMIN = "admin (its own sign-in)"
    SIGNED_MEDIA = "public media URL (HMAC token in the path)"
    METRICS = "Prometheus metrics (BRIDGE_METRICS_TOKEN, its own credentials)"
    CHAT_MEDIA = "chat clients' media service (their access token in X-Twilio-Token)"
    PUBLIC = "public by design (allow-list)"


# Routes anyone may call, each with the reason it is safe. Keep this short: every entry is a door without a lock.
PUBLIC: dict[str, str] = {
    "/static/<path:filename>": "Flask's static route for the app; no static folder ships, so every request is a 404",
    "/admin/static/<path:filename>": "the console's stylesheet and script (no data); the sign-in page needs them",
    "/admin/sign-in": "the admin sign-in form itself: CSRF-protected and rate-limited per address and username",
    "/chat": (
        "the web chat page: markup and a JSON block with the chat socket's URL; it signs in with an access token "
        "the browser holds (from the fragment or pasted), which the page request never carries"
    ),
    "/chat/static/<path:filename>": "the web chat page's stylesheet and scripts, and the SDK's browser bundle",
    "/openapi.json": "the description of the bridge's API (paths and schemas, no data), as Twilio publishes its own",
    "/healthz": "liveness for load balancers: a constant body, touches neither the database nor Redis",
    "/readyz": "readiness for load balancers: each check's name and 'ok' or the kind of failure, no hosts or data",
}
WEBHOOK_PREFIX = "/webhooks/"  # the carrier's; the console's pages about webhook calls are under /admin/webhooks
SIGNED_MEDIA_PREFIX = "/media/"
ADMIN_API_PREFIX = "/admin/api/"
METRICS_PATH = "/metrics"
CHAT_MEDIA_PREFIX = "/MCS/"
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})  # HEAD is GET without a body; OPTIONS only lists methods


def is_admin_path(path: str) -> bool:
    return path == "/admin" or path.startswith("/admin/")


def kinds_of(rule: str) -> list[Kind]:
    """Every kind whose description fits the rule; a sound map gives exactly one per rule."""
    found = []
    if rule in PUBLIC:
        found.append(Kind.PUBLIC)
    if rule.startswith(WEBHOOK_PREFIX):
        found.append(Kind.CARRIER_WEBHOOK)
    if rule.startswith(API_PREFIXES):
        found.append(Kind.API)
    if is_admin_path(rule) and rule not in PUBLIC:
        found.append(Kind.ADMIN)
    if rule.startswith(SIGNED_MEDIA_PREFIX):
        found.append(Kind.SIGNED_MEDIA)
    if rule == METRICS_PATH:
        found.append(Kind.METRICS)
    if rule.startswith(CHAT_MEDIA_PREFIX):
        found.append(Kind.CHAT_MEDIA)
    return found


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - IGNORED_METHODS)


def rules(app: Flask) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


def unclassified(app: Flask) -> list[str]:
    """Rules that are not exactly one kind, with the kinds they matched."""
    problems = []
    for rule in rules(app):
        kinds = kinds_of(rule.rule)
        if len(kinds) != 1:
            named = ", ".join(k.name for k in kinds) or "none"
            problems.append(f"{rule.rule} ({rule.endpoint}) is {named}: it must be exactly one kind")
    return problems


def of_kind(app: Flask, kind: Kind) -> list[Rule]:
    return [rule for rule in rules(app) if kinds_of(rule.rule) == [kind]]


_ARGUMENT = re.compile(r"<(?:(?P<converter>[^:>]+):)?(?P<name>[^>]+)>")


def arguments(rule: str) -> list[tuple[str, str]]:
    """(argument, the path segment before it) in order: `/Conversations/<sid>` gives ("sid", "Conversations")."""
    segments = rule.split("/")
    found = []
    for position, segment in enumerate(segments):
        match = _ARGUMENT.fullmatch(segment)
        if match:
            found.append((match.group("name"), segments[position - 1]))
    return found


def placeholder(rule: str, name: str) -> str:
    """A well-formed value naming nothing: a SID of the right prefix where one can be guessed, else junk."""
    match = next(m for m in _ARGUMENT.finditer(rule) if m.group("name") == name)
    if match.group("converter") == "int":
        return "1"
    return "ZZ" + "0" * 32


def fill(rule: str, values: Mapping[str, str]) -> str:
    """The rule with each `<argument>` replaced by its (percent-encoded) value; unknown ones get a placeholder."""

    def value(match: re.Match[str]) -> str:
        name = match.group("name")
        return quote(values[name] if name in values else placeholder(rule, name), safe="")

    return _ARGUMENT.sub(value, rule)


# -- calling the app: over HTTP (the live bridge) or in process (a throwaway app built by a test) ---------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def is_json(self) -> bool:
        return self.headers.get("Content-Type", "").startswith("application/json")


Send = Callable[..., Reply]  # send(method, path, *, headers=None, data=None, auth=None) -> Reply


def over_http(base_url: str, session: requests.Session | None = None) -> Send:
    http = session or requests.Session()

    def send(
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        auth: tuple[str, str] | None = None,
    ) -> Reply:
        response = http.request(
            method,
            base_url + path,
            headers=dict(headers or {}),
            data=data,
            auth=auth,
            allow_redirects=False,
            timeout=60,
        )
        return Reply(response.status_code, response.headers, response.content)

    return send


def in_process(app: Flask) -> Send:
    browser = app.test_client()

    def send(
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        auth: tuple[str, str] | None = None,
    ) -> Reply:
        all_headers = dict(headers or {})
        if auth is not None:
            all_headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        response = browser.open(path, method=method, headers=all_headers, data=data)
        return Reply(response.status_code, response.headers, response.get_data())

    return send


# -- what the database holds ----------------------------------------------------------------------------------


def snapshot(database: Database) -> dict[str, list[str]]:
    """Every row of every table, as text: two snapshots are equal when nothing was stored, changed or deleted."""
    tables: dict[str, list[str]] = {}
    with database.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            tables[table.name] = sorted(repr(tuple(row)) for row in conn.execute(select(table)))
    return tables


def differences(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """The tables whose rows differ, with their row counts."""
    return [f"{name}: {len(before[name])} -> {len(after[name])} rows" for name in before if before[name] != after[name]]
