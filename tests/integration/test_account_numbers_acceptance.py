"""Issue 16's first Done-when: a script written for Twilio, with the official `twilio` client and numbers that exist
only in the carrier account, creates conversations with those numbers as proxy addresses (and one naming the
account's Messaging Service SID) with no bridge-specific step, and its messages reach the carrier from those
numbers. The bridge reads the account as it does on its own (the sync task, run by a Celery worker as beat runs
it); the script never touches a pool."""

from __future__ import annotations

from twilio.rest import Client

from tests.integration.conftest import delivery_statuses
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually

STORE_NUMBER = "+12025550140"
BACKUP_NUMBER = "+12025550141"
WHATSAPP_NUMBER = "whatsapp:+12025550142"
NOTIFICATIONS_NUMBER = "+12025550150"


def script_written_for_twilio(client: Client, messaging_service_sid: str) -> dict[str, str]:
    """What an application does on Twilio, unchanged: returns the conversation SIDs it made."""
    orders = client.conversations.v1.conversations.create(friendly_name="Order 1001")
    orders.participants.create(messaging_binding_address="+14155550101", messaging_binding_proxy_address=STORE_NUMBER)
    orders.messages.create(author="store", body="Your order has shipped")

    returns = client.conversations.v1.conversations.create(friendly_name="Returns")
    returns.participants.create(messaging_binding_address="+14155550102", messaging_binding_proxy_address=BACKUP_NUMBER)
    returns.participants.create(
        messaging_binding_address="whatsapp:+14155550103", messaging_binding_proxy_address=WHATSAPP_NUMBER
    )
    returns.messages.create(author="store", body="We received your return")

    alerts = client.conversations.v1.conversations.create(
        friendly_name="Alerts", messaging_service_sid=messaging_service_sid
    )
    alerts.participants.create(
        messaging_binding_address="+14155550104", messaging_binding_proxy_address=NOTIFICATIONS_NUMBER
    )
    alerts.messages.create(author="store", body="Your delivery is today")
    return {"orders": orders.sid, "returns": returns.sid, "alerts": alerts.sid}


def test_a_twilio_script_uses_the_accounts_numbers_with_no_bridge_step(
    live: LiveBridge, client: Client, worker: FakeCarrier
) -> None:
    from workers.carrier_sync import sync_carrier_numbers

    worker.account.numbers = [STORE_NUMBER, BACKUP_NUMBER, NOTIFICATIONS_NUMBER]
    worker.account.whatsapp = {WHATSAPP_NUMBER: "ONLINE"}
    notifications = worker.account.add_service("Notifications", [NOTIFICATIONS_NUMBER])
    sync_carrier_numbers.delay()  # what the worker asks for at start, and beat on its schedule
    eventually(
        lambda: _service_exists(client, notifications.sid), timeout=30, message="the carrier account was never read"
    )

    made = script_written_for_twilio(client, notifications.sid)

    sends = worker.wait_for(3)
    assert sorted((s.from_address, s.to_address, s.body) for s in sends) == [
        (STORE_NUMBER, "+14155550101", "Your order has shipped"),
        (BACKUP_NUMBER, "+14155550102", "We received your return"),
        (NOTIFICATIONS_NUMBER, "+14155550104", "Your delivery is today"),
    ]
    # The WhatsApp recipient never wrote, so a free-form message to them fails (63016, as on Twilio) before it
    # reaches the carrier; their binding to the account's WhatsApp sender was accepted all the same.
    eventually(lambda: delivery_statuses(live)["failed"] == 1, timeout=30)
    assert all(not s.to_address.startswith("whatsapp:") for s in worker.snapshot())
    bindings = {
        p.messaging_binding["proxy_address"]
        for p in client.conversations.v1.conversations(made["returns"]).participants.list()
    }
    assert bindings == {BACKUP_NUMBER, WHATSAPP_NUMBER}
    alerts = client.conversations.v1.conversations(made["alerts"]).fetch()
    assert alerts.messaging_service_sid == notifications.sid
    orders = client.conversations.v1.conversations(made["orders"]).fetch()
    default = client.conversations.v1.configuration().fetch().default_messaging_service_sid
    assert orders.messaging_service_sid == default
    # The numbers joined the default pool on first use, and show in it as Twilio's Messaging API lists senders.
    pool = {n.phone_number for n in client.messaging.v1.services(default).phone_numbers.list()}
    assert pool == {STORE_NUMBER, BACKUP_NUMBER, WHATSAPP_NUMBER}


def _service_exists(client: Client, sid: str) -> bool:
    return any(service.sid == sid for service in client.messaging.v1.services.list())
