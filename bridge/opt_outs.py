"""Opt-out keywords (STOP, START, HELP) and the opt-out list, checked at send time, replays included.

Twilio's keywords for long codes and toll-free numbers: the whole message must be the keyword (case and
surrounding spaces ignored), so "STOP" opts out and "please stop texting me" does not.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge.models import OptOut

OPT_OUT, OPT_IN, HELP = "opt_out", "opt_in", "help"
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
CARRIER_REPORTED = "carrier"  # the keyword recorded when the carrier, not the person, said 21610

_SPACES = re.compile(r"\s+")


def classify(body: str | None) -> tuple[str, str] | None:
    """(kind, keyword) when the whole message is a keyword, else None."""
    if not body:
        return None
    word = _SPACES.sub(" ", body.strip()).upper()
    if word in OPT_OUT_WORDS:
        return OPT_OUT, word
    if word in OPT_IN_WORDS:
        return OPT_IN, word
    if word in HELP_WORDS:
        return HELP, word
    return None


def record_opt_out(session: Session, address: str, sender: str, keyword: str) -> None:
    """Idempotent: a second STOP (or a carrier retry of the first) changes nothing."""
    if is_opted_out(session, address, sender):
        return
    try:
        with session.begin_nested():
            session.add(OptOut(address=address, sender=sender, keyword=keyword))
            session.flush()
    except IntegrityError:
        pass  # someone recorded it at the same moment


def lift_opt_out(session: Session, address: str, sender: str) -> None:
    session.execute(delete(OptOut).where(OptOut.address == address, OptOut.sender == sender))


def is_opted_out(session: Session, address: str, sender: str) -> bool:
    return session.scalar(select(OptOut.id).where(OptOut.address == address, OptOut.sender == sender)) is not None
