"""Keyset paging behind an opaque `PageToken`: page 10,000 costs what page 1 costs (no OFFSET).

A token names a position (the key of the row a page ends on) and a direction: `after` for the next page,
`before` for the previous one. Every list sorts on one unique column, ascending or descending.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from bridge import jsontext
from bridge.errors import invalid

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    page_size: int
    page: int = 0
    token: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None
    previous_token: str | None


def encode_token(direction: str, key: Any) -> str:
    raw = json.dumps([direction, key], separators=(",", ":")).encode()
    return "PT" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Keys are BIGINT primary keys; a position outside that range cannot be compared with them.
KEY_MIN, KEY_MAX = -(2**63), 2**63 - 1
# The longest token the bridge issues is under 50 characters; anything far longer is not one of ours
# (and a long enough nest of brackets would exhaust the JSON parser's recursion).
MAX_TOKEN_LENGTH = 100


def decode_token(token: str) -> tuple[str, int]:
    try:
        if not token.startswith("PT") or len(token) > MAX_TOKEN_LENGTH:
            raise ValueError
        body = token[2:]
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        direction, key = jsontext.parse(raw, "Invalid PageToken")
        if direction not in ("after", "before") or type(key) is not int or not KEY_MIN <= key <= KEY_MAX:
            raise ValueError
        # Only the exact form encode_token writes: no other spellings of the same JSON, no padding.
        if encode_token(direction, key) != token:
            raise ValueError
    except (ValueError, binascii.Error, TypeError):
        raise invalid("Invalid PageToken") from None
    return direction, key


def paginate(
    session: Session,
    query: Select[Any],
    key: InstrumentedAttribute[int],
    request: PageRequest,
    descending: bool = False,
) -> Page[Any]:
    """Run `query` for one page ordered by the unique integer column `key`."""
    direction, position = ("after", None) if request.token is None else decode_token(request.token)
    forward = direction == "after"
    # Walking backwards is walking forwards in the opposite order, then reversing the page.
    walk_descending = descending if forward else not descending
    if position is not None:
        query = query.where(key < position if walk_descending else key > position)
    ordered = query.order_by(key.desc() if walk_descending else key.asc())
    return fetch_page(
        session,
        ordered,
        request.page_size,
        forward=forward,
        resumed=position is not None,
        token_for=lambda direction, row: encode_token(direction, getattr(row, key.key)),
    )


def fetch_page(
    session: Session,
    ordered: Select[Any],
    page_size: int,
    *,
    forward: bool,
    resumed: bool,
    token_for: Callable[[str, Any], str],
) -> Page[Any]:
    """Reads one page from a query already filtered past the position and ordered in walking direction
    (one row more than a page, to learn whether there is another), and writes the tokens around it."""
    rows = list(session.scalars(ordered.limit(page_size + 1)).unique())
    more = len(rows) > page_size
    rows = rows[:page_size]
    if not forward:
        rows.reverse()
    if not rows:
        return Page([], None, None)
    has_next = more if forward else True
    has_previous = resumed if forward else more
    return Page(
        rows,
        token_for("after", rows[-1]) if has_next else None,
        token_for("before", rows[0]) if has_previous else None,
    )
