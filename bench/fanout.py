"""Fan-out on the embedded default: one message to a conversation of many SMS participants (Twilio allows 50
non-chat participants), and how long until the last of them is at the carrier.

The bridge runs as a newcomer runs it, `bridge run` (SQLite, the embedded Redis, one worker), sending to the
benchmarks' fake carrier, which may take its time to answer each send as a real carrier's API does. Each message
is written by a chat participant through the REST API, so every SMS participant gets it; the clock starts when the
REST call is answered and stops when the carrier has the last send.

    .venv/bin/python -m bench.fanout                                    # 50 participants, 10 messages
    .venv/bin/python -m bench.fanout --participants 50 --send-latency 0.2
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from bench.carrier import body_tag
from bench.stack import REPOSITORY, START_TIMEOUT_SECONDS, CarrierProcess, ProcessSet, free_port, wait_until
from bench.stats import percentile

PROXY = "+12015550100"
AUTHOR = "agent"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=50, help="SMS participants of the conversation")
    parser.add_argument("--messages", type=int, default=10, help="messages, one after the other has fanned out")
    parser.add_argument("--send-latency", type=float, default=0.1, help="seconds the carrier takes per send")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one message's sends")
    return parser.parse_args(argv)


def start_embedded(processes: ProcessSet, carrier: CarrierProcess, workdir: Path) -> tuple[str, requests.Session]:
    port = free_port()
    account_sid, auth_token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY),
        "BRIDGE_INSTANCE_DIR": str(workdir / "instance"),
        "PORT": str(port),
        "BRIDGE_GATEWAY_PORT": str(free_port()),
        "BRIDGE_ACCOUNT_SID": account_sid,
        "BRIDGE_AUTH_TOKEN": auth_token,
        "TWILIO_ACCOUNT_SID": carrier.account_sid,
        "TWILIO_AUTH_TOKEN": carrier.auth_token,
        "TWILIO_API_BASE_URL": carrier.url,
        "LOG_LEVEL": "WARNING",
    }
    for name in ("DATABASE_URL", "REDIS_URL"):  # the embedded default: SQLite and the bridge's own Redis
        env.pop(name, None)
    processes.start("bridge-run", [sys.executable, "-m", "workers.cli", "run", "--host", "127.0.0.1"], env)
    url = f"http://127.0.0.1:{port}"
    api = requests.Session()
    api.auth = (account_sid, auth_token)

    def ready() -> bool:
        processes.check_alive()
        try:
            return api.get(url + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(ready, START_TIMEOUT_SECONDS * 2, "bridge run")
    return url, api


def create_conversation(url: str, api: requests.Session, participants: int) -> str:
    pool = api.get(url + "/v1/Configuration", timeout=30).json()["default_messaging_service_sid"]
    api.post(f"{url}/messaging/v1/Services/{pool}/PhoneNumbers", data={"PhoneNumber": PROXY}, timeout=30)
    sid = api.post(url + "/v1/Conversations", data={"FriendlyName": "fan-out"}, timeout=30).json()["sid"]
    for number in range(participants):
        added = api.post(
            f"{url}/v1/Conversations/{sid}/Participants",
            data={"MessagingBinding.Address": f"+1628555{number:04d}", "MessagingBinding.ProxyAddress": PROXY},
            timeout=30,
        )
        if added.status_code != 201:
            raise RuntimeError(f"adding participant {number}: {added.status_code} {added.text}")
    api.post(f"{url}/v1/Conversations/{sid}/Participants", data={"Identity": AUTHOR}, timeout=30).raise_for_status()
    return str(sid)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as scratch:
        workdir = Path(scratch)
        processes = ProcessSet(workdir)
        try:
            carrier = CarrierProcess(processes, send_latency=args.send_latency)
            carrier.start()
            url, api = start_embedded(processes, carrier, workdir)
            conversation = create_conversation(url, api, args.participants)
            run_id = secrets.token_hex(3)
            spans: list[float] = []
            for sequence in range(args.messages + 1):  # the first warms the worker up and is not counted
                answered = api.post(
                    f"{url}/v1/Conversations/{conversation}/Messages",
                    data={"Author": AUTHOR, "Body": f"to everyone {body_tag(run_id, sequence)}"},
                    timeout=30,
                )
                started = time.monotonic()
                answered.raise_for_status()
                if not carrier.wait_for_sends(run_id, (sequence + 1) * args.participants, args.timeout):
                    print(f"message {sequence}: not every participant reached in {args.timeout} s", file=sys.stderr)
                    return 1
                last = max(at for seq, _to, at in carrier.records(run_id)["sends"] if seq == sequence)
                if sequence:
                    spans.append(last - started)
        finally:
            processes.stop_all()
    print(
        f"fan-out, bridge run (SQLite), {args.participants} SMS participants, carrier answering in "
        f"{args.send_latency * 1000:.0f} ms: {args.messages} messages, REST answer to last send at the carrier "
        f"p50 {percentile(spans, 0.5) * 1000:.0f} ms, max {max(spans) * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
