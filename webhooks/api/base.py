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
from werkzeug.datastructures import MultiDict

from bridge import accounts, events
from bridge.config import Settings
from bridge.db import Database
from bridge.errors import invalid
from bridge.hooks import pre
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
    """The request's parameters, with what the application's pre-event webhook replaced (if it did)."""
    values = request.form if request.method == "POST" else request.args
    changes: dict[str, str] | None = g.get("pre_event_changes")
    if changes:
        values = MultiDict(values)
        for name, value in changes.items():
            values.setlist(name, [value])
    return Params(values)


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


def webhooks_enabled() -> bool:
    """Twilio's loop guard: a REST write fires Conversations webhooks only when it asks to."""
    return request.headers.get("X-Twilio-Webhook-Enabled", "").strip().lower() == "true"


def transactional(view: View) -> View:
    """Runs the view in one database transaction: committed when it returns, rolled back when it raises."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with database().transaction() as db_session:
            events.set_origin(db_session, events.REST_WITH_WEBHOOKS if webhooks_enabled() else events.REST)
            g.bridge_session = db_session
            try:
                return view(*args, **kwargs)
            finally:
                g.pop("bridge_session", None)

    return wrapper  # type: ignore[return-value]


PreEventBuilder = Callable[..., pre.PreEvent | None]


def asking_first(build: Callable[..., pre.PreEvent | None], view: View) -> View:
    """A REST write that carries X-Twilio-Webhook-Enabled asks the application's pre-event webhook first: `build`
    reads what it needs in a short transaction of its own, the webhook is called with no transaction open, and
    the view then runs (in its own transaction) with the webhook's changes, or not at all if it rejected."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if webhooks_enabled():
            pre_event = build(*args, **kwargs)
            if pre_event is not None:
                verdict = pre.ask(pre_event, settings())
                if verdict.rejected:
                    raise pre.rejection(pre_event, verdict)
                g.pre_event_changes = verdict.changes
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _scope(service_sid: str | None) -> Scope:
    if service_sid is None:
        return Scope(accounts.default_service(session()), "/v1")
    service = find_service(session(), service_sid)
    return Scope(service, f"/v1/Services/{service.sid}")


def scoped_route(
    blueprint: Blueprint, rule: str, methods: Iterable[str], pre_event: PreEventBuilder | None = None
) -> Callable[[View], View]:
    """Registers a view on the default-service path (`/v1/X`) and on `/v1/Services/{IS}/X`. `pre_event`, called
    like the view, says which pre-event webhook the write asks first (see `asking_first`)."""

    def register(view: View) -> View:
        @functools.wraps(view)
        def with_scope(*args: Any, service_sid: str | None = None, **kwargs: Any) -> Any:
            return view(_scope(service_sid), *args, **kwargs)

        wrapped = transactional(with_scope)
        if pre_event is not None:

            def build(*args: Any, service_sid: str | None = None, **kwargs: Any) -> pre.PreEvent | None:
                scope = _scope(service_sid)
                if not scope.service.pre_webhooks:
                    return None  # nothing to ask: no reading for a payload either
                return pre_event(scope, *args, **kwargs)

            wrapped = asking_first(transactional(build), wrapped)
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


def route(
    blueprint: Blueprint, rule: str, methods: Iterable[str], pre_event: PreEventBuilder | None = None
) -> Callable[[View], View]:
    def register(view: View) -> View:
        wrapped = transactional(view)
        if pre_event is not None:
            wrapped = asking_first(transactional(pre_event), wrapped)
        blueprint.add_url_rule(rule, view.__name__, wrapped, methods=list(methods), provide_automatic_options=False)
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
