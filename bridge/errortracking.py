"""Errors to Sentry when SENTRY_DSN is set (nothing otherwise), from the web process and the workers alike.

Events carry no personal data: `send_default_pii=False` keeps out cookies, users and IP addresses,
`max_request_body_size="never"` request bodies, and `before_send` masks phone numbers and message bodies in every
string an event still holds (exception messages, log breadcrumbs, headers), with the same mask as the logs
(bridge/logmask.py). The callers pass the integrations of their framework (Flask, Celery): this package
imports neither."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sentry_sdk
from sentry_sdk.integrations import Integration

from bridge.logmask import BODY_FIELDS, MASK, mask


def masked(value: Any) -> Any:
    """`value` with every string in it masked (keys too), and whole values under body keys (`Body`, ...), walked
    with a stack so no depth can exhaust recursion."""
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        item = parent[key]
        if isinstance(item, str):
            parent[key] = mask(item)
        elif isinstance(item, dict):
            copy = {mask(k) if isinstance(k, str) else k: MASK if k in BODY_FIELDS else v for k, v in item.items()}
            parent[key] = copy
            stack.extend((copy, k) for k in copy)
        elif isinstance(item, list | tuple):
            copy_list = list(item)
            parent[key] = copy_list
            stack.extend((copy_list, i) for i in range(len(copy_list)))
    return root[0]


def _before_send(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    return masked(event)


def init(dsn: str | None, integrations: Sequence[Integration], environment: str | None = None) -> bool:
    """Starts Sentry for this process if `dsn` is set; returns whether it did."""
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        integrations=list(integrations),
        send_default_pii=False,
        max_request_body_size="never",  # request bodies are messages: never attached
        before_send=_before_send,
        before_breadcrumb=lambda crumb, _hint: masked(crumb),
        include_local_variables=False,  # a frame's locals hold bodies and numbers the mask may not recognise
        environment=environment,
        traces_sample_rate=0.0,
    )
    return True
