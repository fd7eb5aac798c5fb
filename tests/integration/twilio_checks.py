"""Assertions shared by the resource suites: Twilio error codes and the paging envelope walked both ways."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from tests.integration.conftest import Api


def assert_twilio_error(call: Callable[[], Any], code: int, status: int) -> TwilioRestException:
    """`call` must fail the way Twilio would: with this error code and HTTP status, as twilio reports them."""
    with pytest.raises(TwilioRestException) as info:
        call()
    assert (info.value.code, info.value.status) == (code, status), info.value.msg
    return info.value


def assert_error_body(response: Any, code: int, status: int) -> None:
    """A raw response carries Twilio's error body with this code and status."""
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text


def walk_pages(api: Api, path: str, key: str, field: str = "sid", page_size: int = 2) -> list[list[Any]]:
    """Follows `next_page_url` from the first page to the last, then `previous_page_url` back to the first.

    Returns the `field` values of each page in forward order, after checking that walking back gives the
    same pages, that the ends have no further links, and that every page is complete except the last.
    """
    separator = "&" if "?" in path else "?"
    url: str | None = f"{api.base}{path}{separator}PageSize={page_size}"
    forward: list[list[Any]] = []
    last_meta: dict[str, Any] = {}
    while url:
        response = api.http.get(url, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        meta = body["meta"]
        assert meta["key"] == key
        assert meta["page_size"] == page_size
        assert meta["page"] == len(forward)
        if not forward:
            assert meta["previous_page_url"] is None
        forward.append([item[field] for item in body[key]])
        last_meta = meta
        url = meta["next_page_url"]
    assert all(len(page) == page_size for page in forward[:-1])
    assert 1 <= len(forward[-1]) <= page_size

    backward: list[list[Any]] = [forward[-1]]
    url = last_meta["previous_page_url"]
    while url:
        response = api.http.get(url, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        backward.append([item[field] for item in body[key]])
        url = body["meta"]["previous_page_url"]
        assert len(backward) <= len(forward), "previous_page_url walked past the first page"
    assert list(reversed(backward)) == forward
    return forward


def flatten(pages: list[list[Any]]) -> list[Any]:
    return [item for page in pages for item in page]


def post_concurrently(api: Api, requests_to_send: list[tuple[str, dict[str, str]]]) -> list[Any]:
    """Sends the POSTs at the same moment, each on its own connection; returns the responses in order."""
    barrier = threading.Barrier(len(requests_to_send))

    def send(path: str, data: dict[str, str]) -> Any:
        with requests.Session() as http:
            http.auth = api.http.auth
            barrier.wait(timeout=30)
            return http.post(api.base + path, data=data, timeout=60)

    with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
        return list(pool.map(lambda pair: send(*pair), requests_to_send))
