"""The carrier account's numbers (bridge/carrier_numbers.py): read from the fake carrier as Twilio lists them, mirrored
with the same SIDs, kept in step, and valid proxy addresses without any pool step, as on Twilio."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import func, select
from twilio.rest import Client

from bridge import carrier_numbers
from bridge.carriers import build_carrier
from bridge.config import Settings
from bridge.models import CarrierNumber, MessagingService, Sender
from tests.conftest import on_postgres
from tests.integration.conftest import Api
from tests.integration.test_worker_process import procfile_command, worker_environment
from tests.integration.twilio_checks import assert_twilio_error, post_concurrently
from tests.support.fake_carrier import FakeCarrier, resource_sid
from tests.support.live import LiveBridge
from tests.support.processes import RedisServer
from tests.support.waiting import eventually
from workers.carrier_sync import run_sync

CUSTOMER = "+14155550123"
ACCOUNT_NUMBER = "+12025550110"  # a number of the fake carrier's account, in none of its services
SALES_NUMBER = "+12025550120"  # in the account's "Sales" messaging service
SALES_WHATSAPP = "whatsapp:+12025550121"


@pytest.fixture
def account(fake_carrier: FakeCarrier) -> Any:
    """The fake carrier's account: a free number, a Sales service with an SMS and a WhatsApp sender, and numbers
    that cannot be proxies (voice only, an offline WhatsApp sender). A test that also wants `worker` names it
    first: the worker fixture resets the fake carrier, account included."""
    fake_carrier.reset()
    fake_carrier.account.numbers = [ACCOUNT_NUMBER, SALES_NUMBER]
    fake_carrier.account.voice_only = ["+12025550199"]
    fake_carrier.account.whatsapp = {SALES_WHATSAPP: "ONLINE", "whatsapp:+12025550198": "OFFLINE"}
    fake_carrier.account.add_service("Sales", [SALES_NUMBER, SALES_WHATSAPP])
    yield fake_carrier.account
    fake_carrier.reset()


def sync(live: LiveBridge) -> carrier_numbers.SyncReport:
    return run_sync(live.database, build_carrier(live.settings))


def carrier_rows(live: LiveBridge) -> dict[str, tuple[str, str | None, str | None]]:
    with live.database.transaction() as session:
        return {
            row.address: (row.channel, row.carrier_sid, row.carrier_messaging_service_sid)
            for row in session.scalars(select(CarrierNumber))
        }


def senders_of(live: LiveBridge) -> dict[str, tuple[str, str]]:
    """address -> (MG SID, origin) of every sender of every pool."""
    with live.database.transaction() as session:
        rows = session.execute(
            select(Sender.address, MessagingService.sid, Sender.origin).join(
                MessagingService, MessagingService.id == Sender.messaging_service_id
            )
        )
        return {address: (sid, origin) for address, sid, origin in rows}


def default_pool(client: Client) -> str:
    return str(client.conversations.v1.configuration().fetch().default_messaging_service_sid)


def add_sms(client: Client, conversation_sid: str, address: str, proxy: str) -> str:
    participants = client.conversations.v1.conversations(conversation_sid).participants
    return str(participants.create(messaging_binding_address=address, messaging_binding_proxy_address=proxy).sid)


# --- the sync ------------------------------------------------------------------------------------------------


def test_sync_reads_every_page_of_numbers_and_mirrors_services_with_their_sids(
    live: LiveBridge, client: Client, account: Any, fake_carrier: FakeCarrier
) -> None:
    many = [f"+1202555{n:04d}" for n in range(1000, 1120)]  # past Twilio's default page of 50
    account.numbers += many
    sales = account.services[0]

    report = sync(live)

    rows = carrier_rows(live)
    assert set(rows) == {ACCOUNT_NUMBER, SALES_NUMBER, SALES_WHATSAPP, *many}  # not voice-only, not offline
    assert rows[ACCOUNT_NUMBER] == ("sms", resource_sid("PN", ACCOUNT_NUMBER), None)
    assert rows[SALES_NUMBER] == ("sms", resource_sid("PN", SALES_NUMBER), sales.sid)
    assert rows[SALES_WHATSAPP] == ("whatsapp", resource_sid("XE", SALES_WHATSAPP), sales.sid)
    numbers_path = f"/2010-04-01/Accounts/{fake_carrier.account_sid}/IncomingPhoneNumbers.json"
    assert fake_carrier.inventory_requests[numbers_path] == 3
    assert sorted(report.numbers_added) == sorted(rows)
    assert report.services_added == [sales.sid]
    assert sorted(report.senders_added) == sorted(
        [f"{SALES_NUMBER} -> {sales.sid}", f"{SALES_WHATSAPP} -> {sales.sid}"]
    )

    # The carrier's service is the bridge's, under the same SID, with the same senders.
    mirrored = client.messaging.v1.services(sales.sid).fetch()
    assert (mirrored.sid, mirrored.friendly_name) == (sales.sid, "Sales")
    pool = client.messaging.v1.services(sales.sid).phone_numbers.list()
    assert sorted(n.phone_number for n in pool) == sorted([SALES_NUMBER, SALES_WHATSAPP])
    assert senders_of(live)[SALES_NUMBER] == (sales.sid, "carrier")


def test_a_second_sync_changes_nothing(live: LiveBridge, account: Any) -> None:
    sync(live)
    before = (carrier_rows(live), senders_of(live))
    with live.database.transaction() as session:
        sender_sids = sorted(session.scalars(select(Sender.sid)))

    report = sync(live)

    assert not report.changed
    assert report.lines()[-1].endswith("nothing changed")
    assert (carrier_rows(live), senders_of(live)) == before
    with live.database.transaction() as session:
        assert sorted(session.scalars(select(Sender.sid))) == sender_sids


def test_sync_follows_renames_moves_and_removals_without_breaking_participants(
    live: LiveBridge, client: Client, worker: FakeCarrier, account: Any
) -> None:
    sales = account.services[0]
    unused = account.add_service("Unused", [])
    sync(live)
    # A conversation on the Sales service, bound to its number; and one bound to the free number.
    on_sales = client.conversations.v1.conversations.create(messaging_service_sid=sales.sid).sid
    add_sms(client, on_sales, CUSTOMER, SALES_NUMBER)
    on_default = client.conversations.v1.conversations.create().sid
    add_sms(client, on_default, CUSTOMER, ACCOUNT_NUMBER)

    # The account changes: Sales renamed and its WhatsApp sender moved to a new service, the free number
    # released, the Unused service deleted, then the Sales service deleted although a conversation names it.
    sales.friendly_name = "Sales (US)"
    sales.senders.remove(SALES_WHATSAPP)
    support = account.add_service("Support", [SALES_WHATSAPP])
    account.numbers.remove(ACCOUNT_NUMBER)
    account.services.remove(unused)
    report = sync(live)

    assert report.services_updated == [sales.sid]
    assert report.services_added == [support.sid]
    assert report.services_removed == [unused.sid]
    assert report.senders_moved == [f"{SALES_WHATSAPP}: {sales.sid} -> {support.sid}"]
    assert report.numbers_removed == [ACCOUNT_NUMBER]
    assert ACCOUNT_NUMBER not in carrier_rows(live)
    # It had joined the default pool when the participant named it; released, it leaves the pool too.
    assert report.senders_removed == [f"{ACCOUNT_NUMBER} (was in {default_pool(client)})"]
    assert ACCOUNT_NUMBER not in senders_of(live)
    assert senders_of(live)[SALES_WHATSAPP] == (support.sid, "carrier")
    assert client.messaging.v1.services(sales.sid).fetch().friendly_name == "Sales (US)"

    account.services.remove(sales)
    report = sync(live)
    assert report.services_kept == [sales.sid]  # a conversation still names it
    assert report.senders_removed == [f"{SALES_NUMBER} (was in {sales.sid})"]
    assert client.messaging.v1.services(sales.sid).fetch().sid == sales.sid

    # Both bindings still carry messages, from their numbers.
    for conversation in (on_sales, on_default):
        client.conversations.v1.conversations(conversation).messages.create(author="agent", body="still here")
    sends = worker.wait_for(2)
    assert sorted(s.from_address for s in sends) == sorted([SALES_NUMBER, ACCOUNT_NUMBER])
    # A released number is no longer a valid new proxy address.
    another = client.conversations.v1.conversations.create().sid
    assert_twilio_error(lambda: add_sms(client, another, "+14155550124", ACCOUNT_NUMBER), 50408, 400)


def test_a_carrier_that_cannot_be_read_changes_nothing(
    live: LiveBridge, account: Any, fake_carrier: FakeCarrier
) -> None:
    from bridge.carriers import CarrierError
    from tests.support.fake_carrier import Failure

    sync(live)
    before = carrier_rows(live)
    account.numbers.clear()
    fake_carrier.inventory_failure = Failure(503, 20503, "Service unavailable")
    with pytest.raises(CarrierError) as raised:
        sync(live)
    assert raised.value.retryable
    assert carrier_rows(live) == before


@pytest.mark.skipif(not on_postgres(), reason="SQLite runs one writer at a time")
def test_two_syncs_at_once_on_postgres_both_succeed_and_agree(live: LiveBridge, account: Any) -> None:
    account.numbers += [f"+1202555{n:04d}" for n in range(2000, 2060)]
    account.add_service("Second", [f"+1202555{n:04d}" for n in range(2000, 2010)])
    inventory = build_carrier(live.settings).inventory()
    barrier = threading.Barrier(2)
    reports: list[carrier_numbers.SyncReport] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with live.database.transaction() as session:
                barrier.wait(timeout=10)
                reports.append(carrier_numbers.sync(session, inventory))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    # One of them did the work; the other, serialised behind it, found nothing to change.
    assert sorted(r.changed for r in reports) == [False, True]
    assert len(carrier_rows(live)) == 2 + 1 + 60
    with live.database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Sender)) == 2 + 10


# --- the proxy rule ------------------------------------------------------------------------------------------


def test_a_number_of_the_account_is_a_proxy_address_and_joins_the_pool(
    live: LiveBridge, client: Client, account: Any
) -> None:
    sync(live)
    pool = default_pool(client)
    assert ACCOUNT_NUMBER not in senders_of(live)
    conversation = client.conversations.v1.conversations.create().sid

    participant = client.conversations.v1.conversations(conversation).participants.create(
        messaging_binding_address=CUSTOMER, messaging_binding_proxy_address=ACCOUNT_NUMBER
    )

    assert participant.messaging_binding["proxy_address"] == ACCOUNT_NUMBER
    assert senders_of(live)[ACCOUNT_NUMBER] == (pool, "account")
    listed = client.messaging.v1.services(pool).phone_numbers.list()
    assert [n.phone_number for n in listed] == [ACCOUNT_NUMBER]
    # The next conversation finds it in the pool, and it stays one sender.
    second = client.conversations.v1.conversations.create().sid
    add_sms(client, second, "+14155550124", ACCOUNT_NUMBER)
    assert len(client.messaging.v1.services(pool).phone_numbers.list()) == 1


def test_a_number_in_another_pool_of_the_account_is_accepted_and_stays_there(
    live: LiveBridge, client: Client, account: Any
) -> None:
    sync(live)
    sales = account.services[0]
    conversation = client.conversations.v1.conversations.create().sid  # the default pool, not Sales
    add_sms(client, conversation, CUSTOMER, SALES_NUMBER)
    assert senders_of(live)[SALES_NUMBER] == (sales.sid, "carrier")


@pytest.mark.parametrize(
    "proxy",
    [
        "+12025550177",  # in no account and no pool
        "+12025550199",  # the account's, but voice only
        "whatsapp:+12025550198",  # the account's WhatsApp sender, but offline
    ],
)
def test_a_number_not_in_the_account_gets_twilios_error(
    live: LiveBridge, client: Client, api: Api, account: Any, proxy: str
) -> None:
    sync(live)
    conversation = client.conversations.v1.conversations.create().sid
    address = f"whatsapp:{CUSTOMER}" if proxy.startswith("whatsapp:") else CUSTOMER
    response = api.post(
        f"/v1/Conversations/{conversation}/Participants",
        {"MessagingBinding.Address": address, "MessagingBinding.ProxyAddress": proxy},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 50408 and body["status"] == 400
    assert body["more_info"] == "https://www.twilio.com/docs/errors/50408"
    assert proxy in body["message"]
    assert proxy not in senders_of(live)


def test_two_participants_naming_the_same_new_account_number_at_once_both_succeed(
    live: LiveBridge, client: Client, api: Api, account: Any
) -> None:
    sync(live)
    conversations = [client.conversations.v1.conversations.create().sid for _ in range(4)]
    responses = post_concurrently(
        api,
        [
            (
                f"/v1/Conversations/{sid}/Participants",
                {"MessagingBinding.Address": f"+1415555013{n}", "MessagingBinding.ProxyAddress": ACCOUNT_NUMBER},
            )
            for n, sid in enumerate(conversations)
        ],
    )
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    with live.database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Sender).where(Sender.address == ACCOUNT_NUMBER)) == 1


def test_the_simulator_accepts_any_number_and_adds_it_to_the_pool_on_first_use(
    live: LiveBridge, client: Client
) -> None:
    """The rule a simulator process applies (the embedded default's walk-through in the README runs it end to
    end, in tests/integration/test_embedded_default.py)."""
    from bridge import participants
    from bridge.models import Conversation

    sid = client.conversations.v1.conversations.create().sid
    with live.database.transaction() as session:
        session.info[carrier_numbers.PROXY_RULE_KEY] = carrier_numbers.proxy_rule("simulator")
        conversation = session.scalars(select(Conversation).where(Conversation.sid == sid)).one()
        participants.add_participant(session, conversation, address=CUSTOMER, proxy_address="+12025550177")
    assert senders_of(live)["+12025550177"] == (default_pool(client), "account")


# --- when it runs ---------------------------------------------------------------------------------------------


def test_the_sync_task_runs_on_a_celery_worker(live: LiveBridge, worker: FakeCarrier, account: Any) -> None:
    from workers.carrier_sync import sync_carrier_numbers

    sync_carrier_numbers.delay()
    eventually(lambda: ACCOUNT_NUMBER in carrier_rows(live), timeout=30)
    assert set(carrier_rows(live)) == {ACCOUNT_NUMBER, SALES_NUMBER, SALES_WHATSAPP}


def test_the_procfile_worker_reads_the_account_when_it_starts(
    live: LiveBridge, account: Any, fake_carrier: FakeCarrier, tmp_path: Path
) -> None:
    redis_server = RedisServer(tmp_path)  # its own broker: the task it asks for is run by this worker, no other
    redis_server.start()
    env = worker_environment(
        redis_server,
        tmp_path,
        DATABASE_URL=live.environment["DATABASE_URL"],
        TWILIO_ACCOUNT_SID=fake_carrier.account_sid,
        TWILIO_AUTH_TOKEN=fake_carrier.auth_token,
        TWILIO_API_BASE_URL=fake_carrier.url,
    )
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        ["bash", "-c", "exec " + procfile_command("worker")], env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        eventually(
            lambda: set(carrier_rows(live)) == {ACCOUNT_NUMBER, SALES_NUMBER, SALES_WHATSAPP} or worker.poll(),
            timeout=90,
        )
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        redis_server.stop()


def test_beat_schedules_the_sync_every_bridge_carrier_sync_seconds(live: LiveBridge) -> None:
    from workers.celery_app import configure

    for environment, expected in (({}, 900.0), ({"BRIDGE_CARRIER_SYNC_SECONDS": "60"}, 60.0)):
        app = Celery("schedule-test")
        configure(app, Settings.from_env({**live.environment, **environment}))
        entry = app.conf.beat_schedule["sync-carrier-numbers"]
        assert entry["task"] == "bridge.sync_carrier_numbers"
        assert entry["schedule"] == timedelta(seconds=expected)
    app = Celery("schedule-test")
    configure(app, Settings.from_env({**live.environment, "BRIDGE_CARRIER_SYNC_SECONDS": "0"}))
    assert "sync-carrier-numbers" not in app.conf.beat_schedule


def senders_sync(live: LiveBridge, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "senders", "sync"],
        env={**live.environment, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_syncs_and_prints_what_changed(live: LiveBridge, account: Any) -> None:
    sales = account.services[0]
    first = senders_sync(live)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert f"number added: {ACCOUNT_NUMBER}" in lines
    assert f"messaging service added: {sales.sid}" in lines
    assert f"sender added: {SALES_NUMBER} -> {sales.sid}" in lines
    assert lines[-1] == "3 numbers and 1 messaging services in the carrier account"
    assert set(carrier_rows(live)) == {ACCOUNT_NUMBER, SALES_NUMBER, SALES_WHATSAPP}

    account.numbers.remove(ACCOUNT_NUMBER)
    second = senders_sync(live)
    assert second.stdout.splitlines() == [
        f"number removed: {ACCOUNT_NUMBER}",
        "2 numbers and 1 messaging services in the carrier account",
    ]
    third = senders_sync(live)
    assert third.stdout.splitlines() == ["2 numbers and 1 messaging services in the carrier account; nothing changed"]


def test_the_cli_says_when_there_is_no_account_to_read(live: LiveBridge, fake_carrier: FakeCarrier) -> None:
    simulator = senders_sync(live, BRIDGE_CARRIER="simulator")
    assert simulator.returncode == 0
    assert "simulator has no account" in simulator.stdout
    fake_carrier.inventory_failure = None
    wrong = senders_sync(live, TWILIO_AUTH_TOKEN="not-the-token")
    assert wrong.returncode == 1
    assert "could not read the carrier account" in wrong.stderr and "20003" in wrong.stderr


def test_a_message_to_an_account_number_in_no_pool_is_autocreated_from_it(
    live: LiveBridge, client: Client, worker: FakeCarrier, account: Any
) -> None:
    sync(live)
    client.conversations.v1.address_configurations.create(
        type="sms", address=ACCOUNT_NUMBER, auto_creation_enabled=True, auto_creation_type="default"
    )
    answer = worker.post_inbound(live.url, worker.inbound_params(CUSTOMER, ACCOUNT_NUMBER, "hello?"))
    assert answer.status_code == 200

    [conversation] = client.conversations.v1.conversations.list()
    [participant] = conversation.participants.list()
    assert participant.messaging_binding == {"type": "sms", "address": CUSTOMER, "proxy_address": ACCOUNT_NUMBER}
    assert senders_of(live)[ACCOUNT_NUMBER] == (default_pool(client), "account")
    assert conversation.messaging_service_sid == default_pool(client)
