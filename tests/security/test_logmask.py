"""The log mask itself (bridge/logmask.py), without I/O: what it hides, what it leaves, and that it is safe to run
twice on one record."""

from __future__ import annotations

import logging
import sys

import pytest

from bridge.logmask import MaskingFilter, installed_on, mask
from bridge.logsetup import adopt_all


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("to +14155552671", "to +1415***2671"),
        ("whatsapp:+447911123456", "whatsapp:+4479***3456"),
        (
            '"GET /v1/ParticipantConversations?Address=%2B14155552671 HTTP/1.1"',
            '"GET /v1/ParticipantConversations?Address=%2B1415***2671 HTTP/1.1"',
        ),
        ("Address=%2b14155552671&PageSize=5", "Address=%2b1415***2671&PageSize=5"),
        ("a short one +3212345", "a short one +32***45"),
        ("Body=Meet+me+at+5&To=%2B14155552671", "Body=***&To=%2B1415***2671"),
        ("{'Body': 'Meet me at 5', 'To': '+14155552671'}", "{'Body': '***', 'To': '+1415***2671'}"),
        ('{"body": "Meet \\"me\\" at 5", "index": 3}', '{"body": "***", "index": 3}'),
        (
            "InboundMessage(body='Meet me', from_address='+14155552671')",
            "InboundMessage(body='***', from_address='+1415***2671')",
        ),
        ("DETAIL:  Failing row contains (7, IM1, Meet me at 5, null).", "DETAIL:  Failing row contains (***)."),
        # Left alone: SIDs, counts, times, a field merely ending in "body", a 16-digit run (not a phone number).
        ("delivery DY0123 sent in 2 send(s), retry 3 in 1.5s, +0000", None),
        ("nobody=here antibody='x'", None),
        ("+1234567890123456", None),
    ],
)
def test_mask(text: str, masked: str | None) -> None:
    assert mask(text) == (masked if masked is not None else text)
    assert mask(mask(text)) == mask(text)  # idempotent: several masking handlers may see one record


def test_the_filter_masks_message_arguments_exceptions_and_stacks_once() -> None:
    try:
        raise ValueError("carrier said: The 'To' number +14155552671 is not a valid phone number")
    except ValueError:
        args = ("+14155552671", {"Body": "hi"})
        record = logging.LogRecord("w", logging.ERROR, __file__, 1, "send to %s failed: %r", args, sys.exc_info())
    record.stack_info = "Stack (most recent call last):\n  send(to='+14155552671')"
    handler = logging.Handler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    assert MaskingFilter().filter(record) is True
    assert MaskingFilter().filter(record) is True  # a second masking handler changes nothing
    text = handler.format(record)
    assert "send to +1415***2671 failed: {'Body': '***'}" in text
    assert "The 'To' number +1415***2671 is not" in text and "send(to='+1415***2671')" in text
    assert "14155552671" not in text


def test_adopting_a_loggers_handlers_puts_one_mask_on_each() -> None:
    logger = logging.getLogger("tests.security.logmask")
    first, second = logging.StreamHandler(), logging.StreamHandler()
    logger.addHandler(first)
    logger.addHandler(second)
    try:
        adopt_all(logger, "text")
        adopt_all(logger, "text")
        assert installed_on(first) and installed_on(second)
        masks = [[f for f in handler.filters if isinstance(f, MaskingFilter)] for handler in (first, second)]
        assert [len(found) for found in masks] == [1, 1]
    finally:
        logger.removeHandler(first)
        logger.removeHandler(second)
