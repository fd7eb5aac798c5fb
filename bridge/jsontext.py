"""JSON text from outside the bridge, parsed so that every way it can be bad is one Twilio-style 400.

The stdlib parser raises ValueError for malformed text, but RecursionError for deep nesting (`[[[[...` a few
thousand deep), and it accepts text that breaks later: `NaN` and `Infinity` (not JSON), numbers beyond a double
(`1e999999` becomes inf, which no JSON encoder writes back), and escaped lone surrogates (`"\\ud800"`), which no
UTF-8 encoder takes, PostgreSQL's included. `parse` refuses all of these with the error its caller names, so a
call site says only what it was reading.
"""

from __future__ import annotations

import json
import math
from typing import Any

from bridge.errors import INVALID_PARAMETER, invalid


def _finite(number: str) -> float:
    value = float(number)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {number[:20]}")
    return value


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _refuse_unencodable(value: Any) -> None:
    """Every string in `value` (keys too) must be encodable as UTF-8: no lone surrogates. Walked with a stack,
    not recursively, so a value as deep as the parser allowed cannot exhaust the recursion limit here."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")  # UnicodeEncodeError (a ValueError) on a lone surrogate
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads(text: str | bytes) -> Any:
    """The value of `text`, or ValueError for anything that is not JSON the bridge can keep (see the module)."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")  # JSON between systems is UTF-8 (RFC 8259); no guessing at UTF-16
        value = json.loads(text, parse_float=_finite, parse_constant=_not_json)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    _refuse_unencodable(value)
    return value


def parse(text: str | bytes, message: str, code: int = INVALID_PARAMETER) -> Any:
    """The value of `text`, or a 400 BridgeError with `code` and `message` for any JSON the bridge refuses."""
    try:
        return loads(text)
    except ValueError:
        raise invalid(message, code) from None
