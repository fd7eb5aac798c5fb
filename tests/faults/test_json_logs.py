"""LOG_FORMAT=json in the deployed processes (gunicorn web, a Celery worker): every log line is one JSON object, a
delivery's lines carry its delivery, message and conversation SIDs, and the web process echoes a request id."""

from __future__ import annotations

import json
import re

import requests

from tests.faults.harness import Scenario
from tests.support.waiting import eventually


def json_lines(text: str) -> list[dict[str, object]]:
    """Lines that are log records (Celery's start-up banner is printed, not logged, and stays text)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_delivery_logs_json_lines_with_its_sids(scenario: Scenario) -> None:
    scenario.stack.environment["LOG_FORMAT"] = "json"
    scenario.stack.start_web(workers=1)
    scenario.stack.start_worker()
    scenario.setup_rooms(count=1)
    scenario.post(1)
    eventually(lambda: len(scenario.carrier.snapshot()) >= 2, timeout=60)

    worker_log = (scenario.stack.workdir / "worker.log").read_text()

    def sent_lines() -> list[dict[str, object]]:
        text = (scenario.stack.workdir / "worker.log").read_text()
        return [line for line in json_lines(text) if " sent in " in str(line["message"])]

    sent = eventually(lambda: len(lines := sent_lines()) >= 2 and lines, timeout=30)
    for line in sent:
        assert re.fullmatch(r"DY[0-9a-f]{32}", str(line["delivery_sid"]))
        assert str(line["delivery_sid"]) in str(line["message"])
        assert re.fullmatch(r"IM[0-9a-f]{32}", str(line["message_sid"]))
        assert re.fullmatch(r"CH[0-9a-f]{32}", str(line["conversation_sid"]))
        assert line["level"] == "INFO" and line["logger"] == "workers.deliver"
    assert len({line["delivery_sid"] for line in sent}) == 2
    records = [line for line in worker_log.splitlines() if line.startswith(("{", "["))]
    assert all(line.startswith("{") for line in records if not line.startswith("[tasks]")), records[:5]

    given = requests.get(scenario.stack.url + "/healthz", headers={"X-Request-Id": "lb-probe-000001"}, timeout=10)
    assert given.headers["X-Request-Id"] == "lb-probe-000001"
    replaced = requests.get(scenario.stack.url + "/healthz", headers={"X-Request-Id": "no spaces, please"}, timeout=10)
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-Id"])
    web_lines = json_lines((scenario.stack.workdir / "web.log").read_text())
    assert web_lines and all("message" in line for line in web_lines)
    assert "+1415" not in (scenario.stack.workdir / "web.log").read_text().replace("+1415***", "")
