"""schemathesis against the live bridge's /openapi.json: every operation, positive and negative cases, unknown
parameters and bad credentials. The contract: no 5xx, every status documented, every body as its schema says,
unknown parameters ignored (refused on the admin API). See harness.py."""

from __future__ import annotations

import pytest
from schemathesis.schemas import BaseSchema

from bridge.openapi.document import build_document, operations
from tests.fuzz.harness import Finding, Fuzzer
from tests.support.live import LiveBridge

LABELS = [f"{method} {template}" for method, template, _ in operations(build_document())]


def report(failures: list[Finding]) -> str:
    lines = []
    for f in failures[:20]:
        lines += [f"[{f.kind}] {f.status}: {f.problem}", f"    {f.reproduce}"]
    return f"{len(failures)} failures:\n" + "\n".join(lines)


@pytest.mark.parametrize("label", LABELS)
def test_generated_requests_keep_the_contract(label: str, fuzz_schema: BaseSchema, fuzzer: Fuzzer) -> None:
    method, path = label.split(" ", 1)
    failures = fuzzer.run(fuzz_schema[path][method])
    assert not failures, report(failures)


@pytest.mark.parametrize("label", [label for label in LABELS if " /webhooks/" in label])
def test_unsigned_webhooks_are_refused_and_store_nothing(
    label: str, fuzz_schema: BaseSchema, fuzzer: Fuzzer, bridge: LiveBridge
) -> None:
    method, path = label.split(" ", 1)
    before = stored(bridge)
    failures = fuzzer.run_unsigned(fuzz_schema[path][method])
    assert not failures, report(failures)
    assert stored(bridge) == before


def stored(bridge: LiveBridge) -> dict[str, int]:
    """What a webhook can leave behind: messages, unrouted messages, status events."""
    from sqlalchemy import func, select

    from bridge.models import DeliveryEvent, Message, UnroutedMessage

    with bridge.database.transaction() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Message, UnroutedMessage, DeliveryEvent)
        }
