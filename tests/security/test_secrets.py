"""Secrets are compared in constant time: the auth token, API key secrets, the admin password and session
fingerprint, media URL tokens, the metrics token and webhook signatures go through `hmac.compare_digest` or twilio's
`RequestValidator` (whose `compare` does not stop at the first differing character), never through `==`.

Checked by reading the code (timing itself is not measured: no timed tests), plus a behavioural check that a wrong
secret of the right length is refused exactly like one of another length."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

import pytest
import requests
from twilio import request_validator

from bridge import accounts
from tests.support.live import LiveBridge
from webhooks.admin import ratelimit

ROOT = Path(__file__).resolve().parents[2]
# The modules that handle secrets, and in each the functions that decide whether a secret is right.
CHECKERS = {
    "webhooks/auth.py": ["authenticated"],
    "webhooks/admin/auth.py": ["check_credentials", "signed_in_admin"],
    "bridge/media.py": ["token_matches", "find_public"],
    "webhooks/carriers/twilio.py": ["_verify_signature"],
    "bridge/metrics_scrape.py": ["authorized"],
}
SECRET_WORDS = re.compile(r"token|secret|password|passwd|signature|fingerprint|digest|hmac|credential", re.I)
UNSAFE_OPERATORS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)
HARMLESS_CONSTANTS = ("", None)  # comparing with "nothing" reveals only that a secret is empty


def _mentions_secret(node: ast.AST) -> bool:
    """Whether the expression's value is (part of) a secret, judged by the names it is read through. The length
    of a secret is public (`len(token)`), and `credentials.type` is about credentials, not one of them."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len":
        return False
    if isinstance(node, ast.Attribute):
        return bool(SECRET_WORDS.search(node.attr))
    if isinstance(node, ast.Name):
        return bool(SECRET_WORDS.search(node.id))
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(SECRET_WORDS.search(node.value))  # request.headers.get("X-Twilio-Signature")
    return any(_mentions_secret(child) for child in ast.iter_child_nodes(node))


def unsafe_comparisons(source: str) -> list[str]:
    """`==`, `!=`, `in` and `not in` with a secret on either side, as `line: code`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands[:-1], operands[1:], strict=True):
            if not isinstance(op, UNSAFE_OPERATORS):
                continue
            if any(isinstance(side, ast.Constant) and side.value in HARMLESS_CONSTANTS for side in (left, right)):
                continue
            if _mentions_secret(left) or _mentions_secret(right):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def _calls(function: ast.AST) -> set[str]:
    """The names a function calls: `f(...)` gives f, `x.y.f(...)` gives f."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                names.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
    return names


def constant_time_functions(source: str) -> set[str]:
    """Functions of the module that compare through `compare_digest` or a `RequestValidator`, directly or through
    another function of the same module that does."""
    tree = ast.parse(source)
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    safe = set()
    for name, function in functions.items():
        calls = _calls(function)
        if "compare_digest" in calls or {"RequestValidator", "validate"} <= calls:
            safe.add(name)
    while True:
        more = {name for name, function in functions.items() if name not in safe and _calls(function) & safe}
        if not more:
            return safe
        safe |= more


# -- the code ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", sorted(CHECKERS))
def test_no_secret_is_compared_with_equality(module: str) -> None:
    assert unsafe_comparisons((ROOT / module).read_text()) == []


@pytest.mark.parametrize("module", sorted(CHECKERS))
def test_every_secret_check_goes_through_a_constant_time_comparison(module: str) -> None:
    safe = constant_time_functions((ROOT / module).read_text())
    assert set(CHECKERS[module]) <= safe, f"not constant-time: {set(CHECKERS[module]) - safe}"


def test_twilios_validator_compares_signatures_without_equality() -> None:
    """The signature check is twilio's: its `validate` compares through `compare`, which looks at every character
    (after a length check: the length of a signature is public)."""
    validate = textwrap.dedent(inspect.getsource(request_validator.RequestValidator.validate))
    assert "compare" in _calls(ast.parse(validate))
    assert unsafe_comparisons(validate) == []
    compare = ast.parse(inspect.getsource(request_validator.compare))
    loop = next(node for node in ast.walk(compare) if isinstance(node, ast.For))
    assert not any(isinstance(node, ast.Return | ast.Break) for node in ast.walk(loop))  # no early exit in the loop


def test_the_inspection_finds_what_it_looks_for() -> None:
    """The checks above can fail: here is what they catch, and what they let pass."""
    leaky = """
def authenticated(given, config):
    return given.password == config.auth_token

def check(signature, request):
    if request.headers.get("X-Twilio-Signature") != signature:
        return False
    return token in known_tokens
"""
    assert [line.split(":")[0] for line in unsafe_comparisons(leaky)] == ["3", "6", "8"]
    fine = """
import hmac
def _equal(a, b):
    return hmac.compare_digest(a.encode(), b.encode())

def authenticated(credentials, config):
    if credentials is None or credentials.type != "basic" or len(credentials.password) != 32:
        return False
    if credentials.password == "":
        return False
    return _equal(credentials.password, config.auth_token)

def elsewhere(a, b):
    return a == b
"""
    assert unsafe_comparisons(fine) == []
    assert constant_time_functions(fine) == {"_equal", "authenticated"}


# -- behaviour --------------------------------------------------------------------------------------------------


def _same_length_wrong(secret: str) -> str:
    """The secret with its last character changed: the same length, wrong only at the end."""
    return secret[:-1] + ("0" if secret[-1] != "0" else "1")


def test_a_wrong_secret_of_the_right_length_is_refused_like_any_other(live: LiveBridge) -> None:
    with live.database.transaction() as session:
        key = accounts.create_api_key(session, "security suite")
        key_sid, key_secret = key.sid, key.secret
    admin_user, admin_password = live.settings.admin_username, live.settings.admin_password
    api_url, admin_url = live.url + "/v1/Services", live.url + "/admin/api/audit"
    cases = [
        (api_url, live.account_sid, live.auth_token),
        (api_url, key_sid, key_secret),
        (admin_url, admin_user, admin_password),
    ]
    for url, username, secret in cases:
        wrong = ["wrong", secret + "x", secret[:-1], "x" * len(secret), _same_length_wrong(secret)]
        first_changed = ("1" if secret[0] != "1" else "2") + secret[1:]
        for guess in [*wrong, first_changed]:
            assert guess != secret
            live.app.extensions[ratelimit.EXTENSION].reset()  # admin refusals count as failed sign-ins: not here
            refused = requests.get(url, auth=(username, guess), timeout=30)
            assert refused.status_code == 401, (url, username, guess)
            assert refused.json()["code"] == 20003
        assert requests.get(url, auth=(username, secret), timeout=30).status_code == 200
