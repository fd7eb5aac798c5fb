"""Conversation Services are isolated: nothing of one service is reachable through another service's paths.

Every path template under `/v1/Services/{ChatServiceSid}/...` in the URL map (and its default-service twin under
`/v1/...`) is requested with the other service's SID and this service's objects, by SID and by every other name
a path accepts (unique name, identity), alone and mixed with the other service's own objects: each method of each
answers 404, and this service's objects are unchanged afterwards. Lists and filters of the other service never
mention them. SIDs given in request bodies (RoleSid, MediaSid, the service's default roles) are refused too."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.integration.conftest import Api, settle
from tests.security.routes import arguments, fill, methods_of, rules
from tests.security.world import PNG, World, build_world, new_service
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge

SCOPED = "/v1/Services/<service_sid>"
INTRUDER_FORM = {
    "FriendlyName": "intruder",
    "Attributes": json.dumps({"intruder": True}),
    "Body": "intruder",
    "Author": "intruder",
    "Identity": "intruder",
    "Permission": "sendMessage",
    "NotificationLevel": "muted",
}


@dataclass(frozen=True)
class Worlds:
    owner: World  # a service of its own, whose objects the intruder goes after
    intruder: World


@pytest.fixture(params=["another service", "the default service"])
def worlds(
    request: pytest.FixtureRequest, api: Api, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> Iterator[Worlds]:
    owner = build_world(live, api, "owner", "+14155550181", sender_pool["sms"], new_service(api, "Owner"))
    if request.param == "another service":
        intruder = build_world(live, api, "intruder", "+14155550182", sender_pool["sms"], new_service(api, "Intruder"))
    else:
        intruder = build_world(live, api, "intruder", "+14155550182", sender_pool["sms"], service_sid=None)
    settle(live)  # deliveries done: the owner's objects no longer change by themselves
    yield Worlds(owner, intruder)


def intruder_templates(live: LiveBridge, scoped_rule: str, intruder: World) -> list[str]:
    """The rules the intruder's paths use: the scoped rule itself (with the intruder's SID) and, for the default
    service, its default-service twin (`/v1/Conversations/...`) where there is one."""
    twin = "/v1" + scoped_rule[len(SCOPED) :]
    if intruder.prefix == "/v1" and any(rule.rule == twin for rule in rules(live.app)):
        return [scoped_rule, twin]
    return [scoped_rule]


def reference_sets(template: str, worlds: Worlds) -> Iterator[dict[str, str]]:
    """Path arguments naming the owner's objects: every combination of owner and intruder objects with at least
    one of the owner's, by SID; and the owner's alone, by each name a path accepts."""
    resource_args = [(name, segment) for name, segment in arguments(template) if name != "service_sid"]
    for sides in itertools.product((worlds.owner, worlds.intruder), repeat=len(resource_args)):
        if worlds.owner in sides:
            yield {name: side.refs(segment)[0] for (name, segment), side in zip(resource_args, sides, strict=True)}
    for refs in itertools.product(*(worlds.owner.refs(segment) for _, segment in resource_args)):
        if any(ref != worlds.owner.refs(segment)[0] for ref, (_, segment) in zip(refs, resource_args, strict=True)):
            yield {name: ref for (name, _), ref in zip(resource_args, refs, strict=True)}


def own_state(api: Api, world: World) -> dict[str, object]:
    return {path: api.get(path).json() for path in world.own_paths()}


def test_no_path_of_another_service_reaches_this_services_objects(live: LiveBridge, api: Api, worlds: Worlds) -> None:
    owner, intruder = worlds.owner, worlds.intruder
    before = own_state(api, owner)
    assert all("code" not in body for body in before.values()), before  # all reachable from their own service
    scoped = [rule for rule in rules(live.app) if rule.rule.startswith(SCOPED + "/")]
    problems: list[str] = []
    probed = listed = 0
    covered: set[str] = set()
    deletes: list[tuple[str, str]] = []  # last: a wrongful delete must not hide what the other probes would find
    for rule, template in ((r, t) for r in scoped for t in intruder_templates(live, r.rule, intruder)):
        if [name for name, _ in arguments(template) if name != "service_sid"] == []:
            listed += check_collection(api, template, rule.rule, worlds, methods_of(rule), problems)
            continue
        for values in reference_sets(template, worlds):
            path = fill(template, {**values, "service_sid": intruder.service_sid})
            covered.add(rule.rule)
            for method in methods_of(rule):
                if method == "DELETE":
                    deletes.append((method, path))
                    continue
                probed += 1
                reply = api.http.request(method, api.base + path, data=INTRUDER_FORM if method == "POST" else None)
                if reply.status_code != 404:
                    problems.append(f"{method} {path} ({template}): {reply.status_code} {reply.text[:200]}")
    for method, path in deletes:
        probed += 1
        reply = api.delete(path)
        if reply.status_code != 404:
            problems.append(f"{method} {path}: {reply.status_code} {reply.text[:200]}")
    assert not problems, "\n".join(problems)
    assert own_state(api, owner) == before  # nothing of the owner's was changed or deleted
    print(f"\nisolation from {intruder.prefix[:15]}: {probed} requests naming the owner's objects, {listed} lists")
    with_objects = {rule.rule for rule in scoped if [a for a in arguments(rule.rule) if a[0] != "service_sid"]}
    assert covered == with_objects and len(covered) >= 13  # every template naming an object was probed


def check_collection(
    api: Api, template: str, scoped_rule: str, worlds: Worlds, methods: list[str], problems: list[str]
) -> int:
    """A list of the intruder's service, with the owner's identity or address as a filter, mentions nothing of
    the owner's. (Creating in a collection of one's own service names nothing of the owner's: not probed.)"""
    if "GET" not in methods:
        return 0
    path = fill(template, {"service_sid": worlds.intruder.service_sid})
    own_path = fill(scoped_rule, {"service_sid": worlds.owner.service_sid})
    answered = 0
    for query in ({}, {"Identity": worlds.owner.identity}, {"Address": worlds.owner.address}):
        reply = api.get(path, params=query)
        if reply.status_code == 400:  # a filter this list does not take in that combination
            continue
        answered += 1
        # `meta` echoes the request's own filters in its page URLs; what the list holds is everything else.
        payload = json.dumps({k: v for k, v in reply.json().items() if k != "meta"}) if reply.ok else reply.text
        leaked = [secret for secret in worlds.owner.secrets() if secret in payload]
        if reply.status_code != 200 or leaked:
            problems.append(f"GET {path} {query}: {reply.status_code}, mentions {leaked}")
        # The same request to the owner's own service answers, so the intruder's silence means something.
        if api.get(own_path, params=query).status_code != 200:
            problems.append(f"GET {own_path} {query} fails for the owner too: the probe is broken")
    if not answered:
        problems.append(f"GET {path}: every variant refused, nothing checked")
    return answered


def test_sids_of_another_service_in_request_bodies_are_refused(api: Api, worlds: Worlds) -> None:
    owner, intruder = worlds.owner, worlds.intruder
    owner_service_role = api.get(f"/v1/Services/{owner.service_sid}/Configuration").json()[
        "default_chat_service_role_sid"
    ]
    intruder_service_role = api.get(f"/v1/Services/{intruder.service_sid}/Configuration").json()[
        "default_chat_service_role_sid"
    ]

    def unattached_media(world: World) -> str:
        return api.post(f"/v1/Services/{world.service_sid}/Media", PNG, headers={"Content-Type": "image/png"}).json()[
            "sid"
        ]

    conversation = f"{intruder.prefix}/Conversations/{intruder.conversation_sid}"
    # (path, form with the owner's SID, the same form with the intruder's own equivalent)
    cases = [
        (f"{conversation}/Participants", {"Identity": "eve", "RoleSid": owner.role_sid}, intruder.role_sid),
        (f"{conversation}/Participants/{intruder.participant_sid}", {"RoleSid": owner.role_sid}, intruder.role_sid),
        (f"{intruder.prefix}/Users", {"Identity": "mallory", "RoleSid": owner_service_role}, intruder_service_role),
        (f"{intruder.prefix}/Users/{intruder.user_sid}", {"RoleSid": owner_service_role}, intruder_service_role),
        (
            f"/v1/Services/{intruder.service_sid}/Configuration",
            {"DefaultConversationRoleSid": owner.role_sid},
            intruder.role_sid,
        ),
        (
            f"/v1/Services/{intruder.service_sid}/Configuration",
            {"DefaultChatServiceRoleSid": owner_service_role},
            intruder_service_role,
        ),
        (f"{conversation}/Messages", {"Body": "look", "MediaSid": unattached_media(owner)}, unattached_media(intruder)),
    ]
    for path, form, own_sid in cases:
        field = next(name for name in form if name.endswith("Sid"))
        refused = api.post(path, form)
        assert refused.status_code == 400, (path, form, refused.text)
        control = {**form, field: own_sid}  # the same request with the intruder's own SID goes through
        accepted = api.post(path, control)
        assert accepted.status_code in (200, 201), (path, control, accepted.text)
