"""The admin faces, beyond what tests/integration/test_admin_*.py already prove.

Already covered there: pages send a signed-out visitor to the sign-in page and `/admin/api/` answers 401 (and
here, for every admin route of the map: test_routes.py); the REST API's credentials open neither face and the
admin's do not open the REST API; CSRF on the console's replay, on sign-in and sign-out, and on the JSON API's
replay with a cookie session; failed sign-ins limited per address and username, the form and Basic auth sharing
one counter, and audited.

Added here: CSRF on every state-changing admin route, enumerated from the URL map (no token, a forged token, and
a genuine token of another admin session are all refused and change nothing; the session's own token goes
through), and a sign-in limit that a client cannot escape by claiming another address in X-Forwarded-For."""

from __future__ import annotations

import pytest
from flask import Flask
from limits import parse as parse_limit

from tests.integration.conftest import Api
from tests.integration.test_admin_api import Console, admin_credentials
from tests.security.routes import ADMIN_API_PREFIX, differences, fill, is_admin_path, methods_of, rules, snapshot
from tests.security.world import reroutable
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from webhooks.admin import ratelimit

SIGN_IN_LIMIT = parse_limit(ratelimit.DEFAULT_LIMIT).amount


def admin_post_rules(app: Flask) -> list[str]:
    return [rule.rule for rule in rules(app) if is_admin_path(rule.rule) and "POST" in methods_of(rule)]


def test_every_state_changing_admin_route_needs_the_sessions_csrf_token(
    live: LiveBridge, api: Api, sender_pool: dict[str, str], fake_carrier: FakeCarrier
) -> None:
    posts = admin_post_rules(live.app)
    assert {
        "/admin/api/replay",
        "/admin/deliveries/replay",
        "/admin/webhooks/replay",
        "/admin/sign-in",
        "/admin/sign-out",
    } <= set(posts)
    username, password = admin_credentials(live)
    # A body each route accepts: every admin change (replay, re-route, sign-in, sign-out) at least writes a line
    # in the audit trail. The JSON API refuses fields it does not know: it gets only its own, and the token in the
    # X-CSRFToken header, as the console's script sends it.
    bodies = {
        "/admin/api/replay": {"status": "failed"},
        "/admin/sign-in": {"username": username, "password": password, "next": "/admin"},
        "/admin/chat": {"identity": "csrf-check"},  # the default service, the shortest lifetime
    }
    problems: list[str] = []
    for n, rule in enumerate(posts):
        path = fill(rule, {"unrouted_id": reroutable(live, api, fake_carrier, sender_pool["sms"], n)})
        json_api = rule.startswith(ADMIN_API_PREFIX)
        form = bodies.get(rule, {} if json_api else {"scope": "matching", "status": "failed"})
        admin = Console(live)
        assert admin.sign_in(username, password).status_code == 302
        other_session = Console(live)
        assert other_session.sign_in(username, password).status_code == 302
        forgeries = {
            "no token": None,
            "a forged token": "forged",
            "another session's genuine token": other_session.token(),
        }
        expected = 403 if json_api else 400
        before = snapshot(live.database)
        for name, token in forgeries.items():
            carriers = [("form", {**form, "csrf_token": token}, {})] if token else [("body", form, {})]
            if json_api and token:
                carriers.append(("X-CSRFToken header", form, {"X-CSRFToken": token}))
            for where, body, headers in carriers:
                refused = admin.post(path, body, headers=headers)
                if refused.status_code != expected:
                    problems.append(f"POST {rule} with {name} in the {where}: {refused.status_code}, not {expected}")
        changed = differences(before, snapshot(live.database))
        if changed:
            problems.append(f"POST {rule} without a valid token changed {changed}")
        # The control: with this session's own token the same request is accepted and changes something.
        token = admin.token()
        if json_api:
            accepted = admin.post(path, form, headers={"X-CSRFToken": token})
        else:
            accepted = admin.post(path, {**form, "csrf_token": token})
        if accepted.status_code in (400, 403) or not differences(before, snapshot(live.database)):
            problems.append(f"POST {rule} with the session's token: {accepted.status_code} {accepted.text[:300]}")
    assert not problems, "\n".join(problems)
    print(f"\nCSRF: {len(posts)} admin POST routes x 3 forgeries (JSON API: in the form and the header), refused")


@pytest.mark.parametrize("face", ["sign-in form", "JSON API Basic auth"])
def test_a_forwarded_for_header_does_not_reset_the_sign_in_limit(live: LiveBridge, face: str) -> None:
    """With BRIDGE_PROXY_COUNT=0 nobody's X-Forwarded-For is trusted: a guesser cannot claim a new address per try."""
    assert live.settings.proxy_count == 0
    username, password = admin_credentials(live)
    guesser = Console(live)

    def attempt(guess: str, n: int) -> int:
        spoofed = {"X-Forwarded-For": f"203.0.113.{n}", "X-Real-IP": f"198.51.100.{n}"}
        if face == "sign-in form":
            form = {"csrf_token": guesser.token("/admin/sign-in"), "username": username, "password": guess}
            return guesser.post("/admin/sign-in", form, headers=spoofed).status_code
        return guesser.http.get(
            live.url + "/admin/api/audit", auth=(username, guess), headers=spoofed, timeout=30
        ).status_code

    assert [attempt(f"guess-{n}", n) for n in range(SIGN_IN_LIMIT)] == [401] * SIGN_IN_LIMIT
    assert attempt(password, SIGN_IN_LIMIT + 1) == 429  # even the right password, from a "new" address
