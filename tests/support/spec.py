"""Checks response bodies against the response schema of their operation in the bridge's OpenAPI document
(bridge/openapi/document.py: Twilio's shipped spec for the operations the bridge implements, plus its own).

Stricter than the document in two ways, on purpose: every property a schema lists must be present (Twilio's spec
marks them all optional, but a client reads them all), and dates must be exactly `YYYY-MM-DDTHH:MM:SSZ` (the only
form twilio-python parses).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema

from bridge.openapi.document import TWILIO_OPERATION_ID, build_document
from bridge.openapi.document import operations as document_operations

TWILIO_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ABSOLUTE_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string", "format": "uri"},
        "status": {"type": "integer"},
    },
}

format_checker = jsonschema.FormatChecker(formats=())


@format_checker.checks("date-time")
def _twilio_date(value: object) -> bool:
    return not isinstance(value, str) or bool(TWILIO_DATE.match(value))


@format_checker.checks("uri")
def _absolute_url(value: object) -> bool:
    return not isinstance(value, str) or bool(ABSOLUTE_URL.match(value))


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    operation_id: str  # Twilio's name for it (the document renames messaging v1's, which collide)
    pattern: re.Pattern[str]
    literal_segments: int
    responses: dict[str, dict[str, Any] | None]  # success status -> JSON schema (None: no body)
    raw_bodies: frozenset[str] = frozenset()  # success statuses whose body is not JSON (a file): any bytes


def _to_json_schema(node: Any, components: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """OpenAPI 3.0 -> JSON Schema: resolve refs, turn `nullable` into a null type, require every property."""
    if isinstance(node, list):
        return [_to_json_schema(item, components, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return {}
        resolved = _to_json_schema(components[name], components, (*seen, name))
        extra = {k: v for k, v in node.items() if k != "$ref"}
        if extra.get("nullable"):
            return {"anyOf": [resolved, {"type": "null"}]}
        return resolved
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("description", "example", "examples", "x-twilio", "nullable"):
            continue
        out[key] = _to_json_schema(value, components, seen)
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]} if out else {}
    if isinstance(out.get("properties"), dict):
        out["required"] = sorted(out["properties"])
    return out


def _compile(template: str) -> tuple[re.Pattern[str], int]:
    parts = [p for p in template.split("/") if p]
    regex = "".join("/[^/]+" if p.startswith("{") else "/" + re.escape(p) for p in parts)
    return re.compile(f"^{regex}$"), sum(1 for p in parts if not p.startswith("{"))


@cache
def operations() -> list[Operation]:
    document = build_document()
    components = document["components"]["schemas"]
    found: list[Operation] = []
    for method, template, op in document_operations(document):
        pattern, literals = _compile(template)
        responses: dict[str, dict[str, Any] | None] = {}
        raw: set[str] = set()
        # Error bodies are checked against ERROR_SCHEMA whatever the operation; successes against their own.
        for status, response in op["responses"].items():
            if int(status) >= 400:
                continue
            content = response.get("content") or {}
            if "application/json" in content:
                responses[status] = _to_json_schema(content["application/json"]["schema"], components)
            else:
                responses[status] = None
                if content:
                    raw.add(status)
        name = op.get(TWILIO_OPERATION_ID, op["operationId"])
        found.append(Operation(method, template, name, pattern, literals, responses, frozenset(raw)))
    return found


def find_operation(method: str, path: str) -> Operation | None:
    """The operation a request addresses; literal segments win over parameters (`/Configuration` vs `{Sid}`)."""
    matches = [op for op in operations() if op.method == method and op.pattern.match(path)]
    return max(matches, key=lambda op: op.literal_segments) if matches else None


def violations(method: str, path: str, status: int, content_type: str, body: bytes) -> list[str]:
    """Everything wrong with one response, as readable strings (empty when it conforms)."""
    where = f"{method} {path} -> {status}"
    operation = find_operation(method, path) if status < 400 else None
    if status < 400 and operation is None:
        return [f"{where}: no operation in the spec for this path"]
    if operation is not None and str(status) not in operation.responses:
        return [f"{where}: status not among {sorted(operation.responses)} for {operation.operation_id}"]
    if status in (204, 304):
        return [f"{where}: a {status} must have an empty body"] if body.strip() else []
    if operation is not None and str(status) in operation.raw_bodies:  # a file: any type, not JSON
        return [] if body else [f"{where}: the file's body is empty"]
    if not content_type.startswith("application/json"):
        return [f"{where}: content type {content_type!r} is not JSON"]
    try:
        document = json.loads(body)
    except ValueError:
        return [f"{where}: body is not JSON"]
    if status >= 400:
        schema: dict[str, Any] | None = ERROR_SCHEMA
        if not isinstance(document, dict):
            return [f"{where}: error body is not a JSON object"]
        if document.get("status") != status:
            return [f"{where}: error body status {document.get('status')} differs from the HTTP status"]
    else:
        assert operation is not None  # checked above
        schema = operation.responses[str(status)]
        if schema is None:
            return []
    validator = jsonschema.Draft7Validator(schema, format_checker=format_checker)
    return [
        f"{where}: {'/'.join(str(p) for p in error.absolute_path) or '(body)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
