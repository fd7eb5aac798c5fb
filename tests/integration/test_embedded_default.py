"""What a newcomer does: `bridge run` with nothing configured, the credentials it prints, the README's examples,
and one message travelling through the built-in carrier simulator."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.live import free_port
from tests.support.waiting import eventually

README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass
class RunningBridge:
    url: str
    account_sid: str
    auth_token: str
    instance: Path
    process: subprocess.Popen[str]
    environment: dict[str, str]


@pytest.fixture
def running_bridge(tmp_path: Path) -> Iterator[RunningBridge]:
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "REDIS_URL", "TWILIO_", "BRIDGE_", "PUBLIC_BASE_URL"))
    }
    environment["PORT"] = str(port)
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "run"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        printed.append(line)
        if "auth token:" in line:
            break
    text = "".join(printed)
    sid = re.search(r"account SID: (AC[0-9a-f]{32})", text)
    token = re.search(r"auth token:\s+(\S+)", text)
    assert sid and token, f"bridge run did not print its credentials:\n{text}"
    bridge = RunningBridge(
        f"http://127.0.0.1:{port}", sid.group(1), token.group(1), tmp_path / "instance", process, environment
    )
    drain = subprocess.Popen(["cat"], stdin=process.stdout, stdout=subprocess.DEVNULL)  # keep its pipe flowing
    try:
        eventually(lambda: _answers(bridge), timeout=60, message="bridge run never answered")
        yield bridge
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            drain.kill()


def _answers(bridge: RunningBridge) -> bool:
    try:
        return requests.get(bridge.url + "/v1/Services", auth=(bridge.account_sid, bridge.auth_token), timeout=2).ok
    except requests.RequestException:
        return False


def readme_python_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has no Python example"
    return blocks[0]


def test_bridge_run_answers_with_the_default_service_and_carries_a_message(running_bridge: RunningBridge) -> None:
    auth = (running_bridge.account_sid, running_bridge.auth_token)
    services = requests.get(running_bridge.url + "/v1/Services", auth=auth, timeout=10).json()["services"]
    assert [s["friendly_name"] for s in services] == ["Default Conversations Service"]
    stored = json.loads((running_bridge.instance / "credentials.json").read_text())
    assert stored == {"account_sid": running_bridge.account_sid, "auth_token": running_bridge.auth_token}

    # The README's Python example, as printed, against this bridge.
    example = readme_python_example()
    example = example.replace('"http://127.0.0.1:5000"', repr(running_bridge.url))
    example = example.replace('"AC..."', repr(running_bridge.account_sid)).replace(
        '"auth token"', repr(running_bridge.auth_token)
    )
    namespace: dict[str, object] = {"print": lambda *args: None}
    exec(compile(example, "README.md", "exec"), namespace)

    # An inbound SMS from the participant the example added, through `bridge simulate inbound`.
    simulated = subprocess.run(
        [
            sys.executable, "-m", "workers.cli", "simulate", "inbound",
            "--from", "+14155550123", "--to", "+12015550101", "--body", "Hi, I need help",
        ],
        cwd=running_bridge.instance.parent,
        env={**running_bridge.environment, "PUBLIC_BASE_URL": running_bridge.url},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr
    outbox = running_bridge.instance / "simulator-outbox.jsonl"

    def simulator_sends() -> list[dict[str, object]]:
        if not outbox.exists():
            return []
        return [json.loads(line) for line in outbox.read_text().splitlines()]

    # The example's message went to the SMS participant (the chat author gets no SMS).
    eventually(lambda: len(simulator_sends()) >= 1, timeout=60)
    assert [(s["from"], s["to"], s["body"]) for s in simulator_sends()] == [
        ("+12015550101", "+14155550123", "Hello from the bridge")
    ]
    conversation_messages = running_bridge.url + "/v1/Conversations/ticket-42/Messages"

    def delivered_summaries() -> list[object]:
        messages = requests.get(conversation_messages, auth=auth, timeout=10).json()["messages"]
        return [m["delivery"] for m in messages]

    summaries = eventually(lambda: [d for d in delivered_summaries() if d and d["delivered"] == "all"], timeout=60)
    assert len(summaries) == 1  # the inbound message has no other SMS participant to go to
    inbound = requests.get(conversation_messages, auth=auth, timeout=10).json()["messages"][-1]
    assert (inbound["author"], inbound["body"]) == ("+14155550123", "Hi, I need help")
