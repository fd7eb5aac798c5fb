"""LOG_FORMAT=json through the real logging stack (bridge/logsetup.py): one JSON object per line, the log context's
SIDs as fields, and the mask on the message, the exception and every extra field."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bridge import logcontext, logsetup

DELIVERY, MESSAGE, CONVERSATION = "DY" + "1" * 32, "IM" + "2" * 32, "CH" + "3" * 32


@pytest.fixture
def json_lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logsetup.adopt(handler, "json")
    logger = logging.getLogger("bridge.tests.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_carries_the_context_sids_and_is_masked(json_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_lines
    with logcontext.bound(delivery_sid=DELIVERY, message_sid=MESSAGE, conversation_sid=CONVERSATION):
        logger.info("delivery %s to %s", DELIVERY, "+14155552671", extra={"to": "+14155552671", "body": "Meet me"})
        try:
            raise RuntimeError("carrier said: Body=Meet+me&To=%2B14155552671")
        except RuntimeError:
            logger.exception("send failed")
    logger.info("outside any delivery")
    first, failure, outside = lines(stream)
    assert first["message"] == f"delivery {DELIVERY} to +1415***2671"
    assert (first["delivery_sid"], first["message_sid"], first["conversation_sid"]) == (DELIVERY, MESSAGE, CONVERSATION)
    assert first["to"] == "+1415***2671" and first["body"] == "***"
    assert first["level"] == "INFO" and first["logger"] == "bridge.tests.json" and "time" in first
    assert failure["delivery_sid"] == DELIVERY
    assert "14155552671" not in json.dumps(failure) and "Meet" not in json.dumps(failure)
    assert "RuntimeError" in str(failure["exc_info"])
    assert "delivery_sid" not in outside


def test_text_stays_the_default_format() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logsetup.formatter("text"))
    logsetup.adopt(handler, "text")
    record = logging.LogRecord("bridge.x", logging.INFO, __file__, 1, "sent to %s", ("+14155552671",), None)
    handler.handle(record)
    assert stream.getvalue().rstrip().endswith("INFO bridge.x: sent to +1415***2671")
