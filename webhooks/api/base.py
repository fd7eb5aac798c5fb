"""What every REST view shares: the request's session and scope, absolute URLs, list envelopes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from bridge import accounts
from bridge.config import Settings
from bridge.db import Database
from bridge.errors import invalid
from bridge.models import ConversationService
from bridge.paging import Page, PageRequest, paginate
from bridge.services import find_service
from bridge.timeutil import iso
from webhooks.forms import Params

View = TypeVar("View", bound=Callable[..., Any])

DEFAULT_PAGE_SIZE = 50


def settings() -> Settings:
    return current_app.extensions["bridge.settings"]


def database() -> Database:
    return current_app.extensions["bridge.database"]


def session() -> Session:
    return g.bridge_session


def params() -> Params:
    return Params(request.form if request.method == "POST" else request.args)


def query_params() -> Params:
    return Params(request.args)


def absolute(path: str) -> str:
    return settings().public_base_url + path


@dataclass(frozen=True)
class Scope:
    """The Conversation Service a request acts on, and the path prefix its URLs are written with."""

    service: ConversationService
    prefix: str  # "/v1" on default-service paths, "/v1/Services/IS..." on scoped paths

    def url(self, path: str) -> str:
        return absolute(self.prefix + path)

    @property
    def service_sid(self) -> str:
        return self.service.sid


def transactional(view: View) -> View:
    """Runs the view in one database transaction: committed when it returns, rolled back when it raises."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with database().transaction() as db_session:
            g.bridge_session = db_session
            try:
                return view(*args, **kwargs)
            finally:
                g.pop("bridge_session", None)

    return wrapper  # type: ignore[return-value]


def scoped_route(blueprint: Blueprint, rule: str, methods: Iterable[str]) -> Callable[[View], View]:
    """Registers a view on the default-service path (`/v1/X`) and on `/v1/Services/{IS}/X`."""

    def register(view: View) -> View:
        @functools.wraps(view)
        def with_scope(*args: Any, service_sid: str | None = None, **kwargs: Any) -> Any:
            if service_sid is None:
                scope = Scope(accounts.default_service(session()), "/v1")
            else:
                service = find_service(session(), service_sid)
                scope = Scope(service, f"/v1/Services/{service.sid}")
            return view(scope, *args, **kwargs)

        wrapped = transactional(with_scope)
        name = view.__name__
        # No automatic OPTIONS: an API path answers its own methods and a JSON 405 to anything else.
        blueprint.add_url_rule(f"/v1{rule}", f"{name}", wrapped, methods=list(methods), provide_automatic_options=False)
        blueprint.add_url_rule(
            f"/v1/Services/<service_sid>{rule}",
            f"service_{name}",
            wrapped,
            methods=list(methods),
            provide_automatic_options=False,
        )
        return view

    return register


def route(blueprint: Blueprint, rule: str, methods: Iterable[str]) -> Callable[[View], View]:
    def register(view: View) -> View:
        blueprint.add_url_rule(
            rule, view.__name__, transactional(view), methods=list(methods), provide_automatic_options=False
        )
        return view

    return register


def created(body: dict[str, Any], status: int = 201) -> tuple[Response, int]:
    return jsonify(body), status


def ok(body: dict[str, Any]) -> Response:
    return jsonify(body)


def deleted() -> tuple[str, int]:
    return "", 204


def page_request(max_size: int = 100, default_size: int = DEFAULT_PAGE_SIZE) -> PageRequest:
    args = query_params()
    size = args.int("PageSize")
    number = args.int("Page", minimum=0)
    size = size if isinstance(size, int) else default_size
    if not 1 <= size <= max_size:
        raise invalid(f"PageSize must be between 1 and {max_size}")
    return PageRequest(page_size=size, page=number if isinstance(number, int) else 0, token=args.str("PageToken"))


def list_page(
    query: Select[Any],
    key: InstrumentedAttribute[int],
    *,
    max_size: int = 100,
    default_size: int = DEFAULT_PAGE_SIZE,
    descending: bool = False,
) -> tuple[Page[Any], PageRequest]:
    page_req = page_request(max_size, default_size)
    return paginate(session(), query, key, page_req, descending=descending), page_req


def envelope(key: str, items: list[dict[str, Any]], page: Page[Any], page_req: PageRequest) -> Response:
    """Twilio's list envelope with absolute page URLs; filters other than paging are carried along."""
    filters = [
        (k, v) for k, values in request.args.lists() for v in values if k not in ("Page", "PageSize", "PageToken")
    ]
    base = absolute(request.path)

    def page_url(number: int, token: str | None) -> str:
        query = [*filters, ("PageSize", str(page_req.page_size)), ("Page", str(number))]
        if token:
            query.append(("PageToken", token))
        return f"{base}?{urlencode(query)}"

    meta = {
        "page": page_req.page,
        "page_size": page_req.page_size,
        "first_page_url": page_url(0, None),
        "previous_page_url": page_url(max(page_req.page - 1, 0), page.previous_token) if page.previous_token else None,
        "url": page_url(page_req.page, page_req.token),
        "next_page_url": page_url(page_req.page + 1, page.next_token) if page.next_token else None,
        "key": key,
    }
    return jsonify({key: items, "meta": meta})


def dates(resource: Any) -> dict[str, str | None]:
    return {"date_created": iso(resource.date_created), "date_updated": iso(resource.date_updated)}
