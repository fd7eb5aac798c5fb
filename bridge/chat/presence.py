"""Reachability: a user is online while a chat socket of theirs is open on any gateway process.

Each gateway process keeps, per user it holds sockets of, an entry in the user's Redis sorted set
(`member` = the process, `score` = when the entry lapses) and renews it while the sockets stay. A crashed
process's entries lapse by themselves. The user's first socket anywhere and their last one closing are changes of
the user's profile map (a `reachabilityChanged` event in the user's stream), which other clients follow.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import events
from bridge.models import ConversationService, User

LEASE_SECONDS = 60.0  # an entry not renewed for this long no longer counts
KEY = "bridge:chat:online:{user_sid}"


def _key(user_sid: str) -> str:
    return KEY.format(user_sid=user_sid)


def is_online(redis: Any, user_sid: str, now: float | None = None) -> bool:
    if redis is None:
        return False
    try:
        return bool(redis.zcount(_key(user_sid), now or time.time(), "+inf"))
    except Exception:  # no Redis: nobody is reported online rather than the read failing
        return False


def arrive(redis: Any, process_id: str, user_sid: str) -> bool:
    """Records this process's sockets of the user; True when the user was offline everywhere before."""
    now = time.time()
    pipe = redis.pipeline()
    pipe.zcount(_key(user_sid), now, "+inf")
    pipe.zadd(_key(user_sid), {process_id: now + LEASE_SECONDS})
    pipe.expire(_key(user_sid), int(LEASE_SECONDS * 2))
    before, _, _ = pipe.execute()
    return not before


def renew(redis: Any, process_id: str, user_sids: list[str]) -> None:
    if not user_sids:
        return
    pipe = redis.pipeline()
    lapse = time.time() + LEASE_SECONDS
    for user_sid in user_sids:
        pipe.zadd(_key(user_sid), {process_id: lapse})
        pipe.expire(_key(user_sid), int(LEASE_SECONDS * 2))
    pipe.execute()


def leave(redis: Any, process_id: str, user_sid: str) -> bool:
    """This process holds no more sockets of the user; True when no process does."""
    now = time.time()
    pipe = redis.pipeline()
    pipe.zrem(_key(user_sid), process_id)
    pipe.zcount(_key(user_sid), now, "+inf")
    _, after = pipe.execute()
    return not after


def record_change(session: Session, service_sid: str, identity: str, online: bool) -> str | None:
    """Writes the user's reachability change; returns the user's SID (None if there is no such user)."""
    found = session.execute(
        select(User, ConversationService)
        .join(ConversationService, ConversationService.id == User.service_id)
        .where(ConversationService.sid == service_sid, User.identity == identity)
    ).first()
    if found is None:
        return None
    user, service = found
    if service.reachability_enabled:
        events.reachability_event(session, user, service, online)
    return user.sid
