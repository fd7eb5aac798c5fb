"""The carrier account's numbers, and which proxy addresses a participant may name.

On Twilio any number of the account is a valid proxy address. The sync reads the account (the carrier adapter's
`inventory()`, called by a worker or the CLI, never by a web request) into `carrier_numbers`, and mirrors each of
the account's messaging services as a bridge Messaging Service with the same SID and the same senders, so an
application that names a `MessagingServiceSid` from the Twilio console finds it here.

What the sync does with what left the account:
- a number: its `carrier_numbers` row goes, and so does the sender it became in a pool on first use (origin
  "account"), so it is no longer a valid new proxy address (as on Twilio). Participants bound to it keep their
  binding (it is a string on the participant, not a reference to the sender). Senders added by hand stay.
- a sender the carrier no longer lists in a service: removed from that pool (it was there only because the
  carrier said so). Bindings are strings on the participant, so no participant breaks.
- a service: deleted only while nothing names it (no conversation, not the account's default); otherwise kept,
  without its carrier senders, and reported as kept.

The proxy rule (`admit_proxy`): a sender of the conversation's effective pool, as before; else, with a carrier
account (`ACCOUNT`), a number of the account, which joins the pool; with the simulator (`ANY_NUMBER`), any
well-formed number, which joins the pool; with no carrier (`POOL`), nothing else. A number already in another pool
stays there (an address is in one pool only) and is accepted all the same: it is the account's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from bridge import accounts, errors
from bridge.addresses import Address, AddressError, parse_address, region_of
from bridge.config import SIMULATOR, TWILIO
from bridge.db import PROXY_RULE_KEY, insert_for
from bridge.errors import invalid
from bridge.messaging_services import effective_messaging_service, sender_in_pool
from bridge.models import AccountConfiguration, CarrierNumber, Conversation, MessagingService, Sender
from bridge.sids import new_sid
from bridge.timeutil import utcnow

if TYPE_CHECKING:  # the adapters import the twilio package; the proxy rule needs none of it
    from bridge.carriers.base import Inventory

log = logging.getLogger(__name__)

# Which proxy addresses are valid beyond the pool's own senders.
POOL, ACCOUNT, ANY_NUMBER = "pool", "account", "any"
# Where a messaging service or sender came from (models.MessagingService.origin, models.Sender.origin).
FROM_CARRIER, FROM_ACCOUNT = "carrier", "account"
# pg_advisory_xact_lock's key: one sync at a time per database (its bytes spell "carriers").
SYNC_LOCK = 0x6361727269657273
FRIENDLY_NAME_LIMIT = 64


def proxy_rule(carrier: str | None) -> str:
    """The rule for a process whose carrier is `carrier` (Settings.carrier)."""
    if carrier == TWILIO:
        return ACCOUNT
    if carrier == SIMULATOR:
        return ANY_NUMBER
    return POOL


def admit_proxy(session: Session, conversation: Conversation, proxy: Address) -> None:
    """Accepts `proxy` as the conversation's proxy address, adding it to the effective pool when it is a number
    of the account that is in no pool yet; raises Twilio's 50408 otherwise."""
    pool = effective_messaging_service(session, conversation)
    if pool is not None and sender_in_pool(session, pool, str(proxy)) is not None:
        return
    if is_ours(session, proxy):
        if pool is not None:
            join_pool(session, pool, proxy)
        return
    name = pool.sid if pool is not None else "(none)"
    if session.info.get(PROXY_RULE_KEY, POOL) == ACCOUNT:
        message = f"Proxy address {proxy} is not a number of the account nor a sender of Messaging Service {name}"
    else:
        message = f"Proxy address {proxy} is not a sender of Messaging Service {name}"
    raise invalid(message, errors.INVALID_PROXY_ADDRESS)


def is_account_number(session: Session, address: Address) -> bool:
    return session.scalar(select(CarrierNumber.id).where(CarrierNumber.address == str(address))) is not None


def is_ours(session: Session, address: Address) -> bool:
    """Whether `address` may be a proxy address without being in a pool: a number of the carrier account, or
    with the simulator any number."""
    rule = session.info.get(PROXY_RULE_KEY, POOL)
    return rule == ANY_NUMBER or (rule == ACCOUNT and is_account_number(session, address))


def sender_for(session: Session, address: Address) -> Sender | None:
    """The sender `address` is in whichever pool has it; a number of the account that is in none joins the
    account's default pool first (a message to it starts a conversation by autocreation, as on Twilio)."""
    query = select(Sender).where(Sender.address == str(address))
    found = session.scalar(query)
    if found is not None or not is_ours(session, address):
        return found
    pool = accounts.configuration(session).default_messaging_service
    if pool is None:
        return None
    join_pool(session, pool, address)
    return session.scalar(query)


def join_pool(session: Session, pool: MessagingService, address: Address) -> None:
    """Adds `address` to `pool` unless some pool already has it. Two requests naming the same new number at once
    both succeed and make one sender: the second insert waits for the first and then does nothing."""
    session.execute(
        insert_for(session, Sender)
        .values(
            sid=new_sid("PN"),
            messaging_service_id=pool.id,
            address=str(address),
            channel=address.channel,
            country_code=region_of(address),
            origin=FROM_ACCOUNT,
        )
        .on_conflict_do_nothing(index_elements=["address"])
    )


@dataclass
class SyncReport:
    """What one sync changed, for the CLI and the log."""

    numbers_added: list[str] = field(default_factory=list)
    numbers_updated: list[str] = field(default_factory=list)
    numbers_removed: list[str] = field(default_factory=list)
    services_added: list[str] = field(default_factory=list)
    services_updated: list[str] = field(default_factory=list)
    services_removed: list[str] = field(default_factory=list)
    services_kept: list[str] = field(default_factory=list)  # gone from the account, still named by the bridge
    senders_added: list[str] = field(default_factory=list)  # "address -> MG..."
    senders_moved: list[str] = field(default_factory=list)
    senders_removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # addresses the carrier listed that are no phone address
    numbers: int = 0
    services: int = 0

    @property
    def changed(self) -> bool:
        return any(
            getattr(self, name) for name in self.__dataclass_fields__ if name not in ("numbers", "services", "skipped")
        )

    def lines(self) -> list[str]:
        labels = {
            "numbers_added": "number added",
            "numbers_updated": "number updated",
            "numbers_removed": "number removed",
            "services_added": "messaging service added",
            "services_updated": "messaging service updated",
            "services_removed": "messaging service removed",
            "services_kept": "messaging service gone from the account, kept (still in use)",
            "senders_added": "sender added",
            "senders_moved": "sender moved",
            "senders_removed": "sender removed",
            "skipped": "skipped (not a phone address)",
        }
        found = [f"{label}: {item}" for name, label in labels.items() for item in getattr(self, name)]
        summary = f"{self.numbers} numbers and {self.services} messaging services in the carrier account"
        return [*found, summary if self.changed else f"{summary}; nothing changed"]


def sync(session: Session, inventory: Inventory) -> SyncReport:
    """Makes the bridge's copy of the account match `inventory`. Idempotent; two at once on PostgreSQL run one
    after the other (an advisory lock), and every write is an upsert on the row's unique key, so a participant
    that adds the same number to a pool meanwhile cannot make it fail."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SYNC_LOCK})
    report = SyncReport()
    now = utcnow()
    members = _members(inventory, report)
    numbers = _numbers(inventory, members, report)
    report.numbers, report.services = len(numbers), len(inventory.services)
    _sync_numbers(session, numbers, members, now, report)
    services = _sync_services(session, inventory, now, report)
    _sync_senders(session, members, services, now, report)
    session.flush()
    session.expire_all()  # core statements changed rows the session may hold
    return report


def _address(raw: str, report: SyncReport) -> Address | None:
    try:
        return parse_address(raw)
    except AddressError:
        report.skipped.append(raw)
        return None


def _numbers(
    inventory: Inventory, members: dict[str, tuple[Address, str]], report: SyncReport
) -> dict[str, tuple[Address, str | None]]:
    found: dict[str, tuple[Address, str | None]] = {}
    for number in inventory.numbers:
        address = _address(number.address, report)
        if address is not None:
            found.setdefault(str(address), (address, number.carrier_sid))
    # A service's sender is a number of the account even where the account's own lists miss it.
    for key, (address, _service) in members.items():
        found.setdefault(key, (address, None))
    return found


def _members(inventory: Inventory, report: SyncReport) -> dict[str, tuple[Address, str]]:
    """address -> (address, MG sid): which carrier service holds each sender (one only, as on Twilio)."""
    found: dict[str, tuple[Address, str]] = {}
    for service in inventory.services:
        for raw in service.senders:
            address = _address(raw, report)
            if address is not None:
                found.setdefault(str(address), (address, service.sid))
    return found


def _sync_numbers(
    session: Session,
    numbers: dict[str, tuple[Address, str | None]],
    members: dict[str, tuple[Address, str]],
    now: datetime,
    report: SyncReport,
) -> None:
    current = {row.address: row for row in session.scalars(select(CarrierNumber))}
    for key, (address, carrier_sid) in numbers.items():
        service_sid = members[key][1] if key in members else None
        existing = current.get(key)
        if existing is None:
            report.numbers_added.append(key)
        elif (existing.carrier_sid, existing.carrier_messaging_service_sid) != (carrier_sid, service_sid):
            report.numbers_updated.append(key)
        values: dict[str, Any] = {
            "channel": address.channel,
            "carrier_sid": carrier_sid,
            "carrier_messaging_service_sid": service_sid,
            "synced_at": now,
            "date_updated": now,
        }
        session.execute(
            insert_for(session, CarrierNumber)
            .values(address=key, date_created=now, **values)
            .on_conflict_do_update(index_elements=["address"], set_=values)
        )
    gone = sorted(set(current) - set(numbers))
    if gone:
        session.execute(delete(CarrierNumber).where(CarrierNumber.address.in_(gone)))
        report.numbers_removed.extend(gone)
        joined = session.execute(
            select(Sender.address, MessagingService.sid)
            .join(MessagingService, MessagingService.id == Sender.messaging_service_id)
            .where(Sender.origin == FROM_ACCOUNT, Sender.address.in_(gone))
        ).all()
        session.execute(delete(Sender).where(Sender.origin == FROM_ACCOUNT, Sender.address.in_(gone)))
        report.senders_removed.extend(f"{address} (was in {sid})" for address, sid in joined)


def _sync_services(session: Session, inventory: Inventory, now: datetime, report: SyncReport) -> dict[str, int]:
    """Upserts each carrier service by SID; returns MG sid -> the bridge's row id."""
    listed = {service.sid: service for service in inventory.services if service.sid}
    current = {
        row.sid: row
        for row in session.scalars(
            select(MessagingService).where(
                (MessagingService.origin == FROM_CARRIER) | MessagingService.sid.in_(list(listed))
            )
        )
    }
    for sid, service in listed.items():
        name = (service.friendly_name or sid)[:FRIENDLY_NAME_LIMIT]
        existing = current.get(sid)
        if existing is None:
            report.services_added.append(sid)
        elif (existing.friendly_name, existing.origin) != (name, FROM_CARRIER):
            report.services_updated.append(sid)
        values = {"friendly_name": name, "origin": FROM_CARRIER}
        session.execute(
            insert_for(session, MessagingService)
            .values(sid=sid, **values)
            .on_conflict_do_update(index_elements=["sid"], set_={**values, "date_updated": now})
        )
    for sid, row in current.items():
        if sid in listed or row.origin != FROM_CARRIER:
            continue
        if _in_use(session, row.id):
            report.services_kept.append(sid)
        else:
            session.execute(delete(MessagingService).where(MessagingService.id == row.id))
            report.services_removed.append(sid)
    ids = select(MessagingService.sid, MessagingService.id).where(MessagingService.sid.in_(list(listed)))
    return {sid: row_id for sid, row_id in session.execute(ids)}


def _in_use(session: Session, service_id: int) -> bool:
    named = session.scalar(
        select(func.count()).select_from(Conversation).where(Conversation.messaging_service_id == service_id)
    )
    default = session.scalar(
        select(AccountConfiguration.id).where(AccountConfiguration.default_messaging_service_id == service_id)
    )
    return bool(named) or default is not None


def _sync_senders(
    session: Session,
    members: dict[str, tuple[Address, str]],
    services: dict[str, int],
    now: datetime,
    report: SyncReport,
) -> None:
    current = {
        address: (service_sid, origin)
        for address, service_sid, origin in session.execute(
            select(Sender.address, MessagingService.sid, Sender.origin)
            .join(MessagingService, MessagingService.id == Sender.messaging_service_id)
            .where((Sender.origin == FROM_CARRIER) | Sender.address.in_(list(members)))
        )
    }
    for key, (address, service_sid) in members.items():
        service_id = services[service_sid]
        held = current.get(key)
        if held is None:
            report.senders_added.append(f"{key} -> {service_sid}")
        elif held[0] != service_sid:
            report.senders_moved.append(f"{key}: {held[0]} -> {service_sid}")
        session.execute(
            insert_for(session, Sender)
            .values(
                sid=new_sid("PN"),
                messaging_service_id=service_id,
                address=key,
                channel=address.channel,
                country_code=region_of(address),
                origin=FROM_CARRIER,
            )
            .on_conflict_do_update(
                index_elements=["address"],
                set_={"messaging_service_id": service_id, "origin": FROM_CARRIER, "date_updated": now},
            )
        )
    for key, (service_sid, origin) in current.items():
        if origin == FROM_CARRIER and key not in members:
            session.execute(delete(Sender).where(Sender.address == key, Sender.origin == FROM_CARRIER))
            report.senders_removed.append(f"{key} (was in {service_sid})")
