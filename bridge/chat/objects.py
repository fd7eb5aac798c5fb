"""The Sync objects a chat client opens, named after the domain rows they show.

An object's SID is a two-letter kind and the 32 hex digits of its owner's SID (a conversation's `CH...` or a
user's `US...`), so naming one needs no table and reading one needs no lookup. The client also opens objects by
these SIDs (the bridge hands them out as the objects' names), and subscribes and routes events by them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCUMENT, MAP, LIST = "document", "map", "list"

# prefix -> (what it shows, Sync type, owner's SID prefix)
KINDS: dict[str, tuple[str, str, str]] = {
    "ET": ("conversation", DOCUMENT, "CH"),
    "ES": ("messages", LIST, "CH"),
    "MP": ("roster", MAP, "CH"),
    "MU": ("user_info", MAP, "US"),
    "MC": ("my_conversations", MAP, "US"),
}
PREFIX_OF_KIND = {kind: prefix for prefix, (kind, _, _) in KINDS.items()}
_SID = re.compile(r"^(ET|ES|MP|MU|MC)([0-9a-f]{32})$")


@dataclass(frozen=True)
class SyncObject:
    kind: str  # conversation | messages | roster | user_info | my_conversations
    owner_sid: str  # the conversation's or the user's SID: also the event stream the object follows

    @property
    def sid(self) -> str:
        return PREFIX_OF_KIND[self.kind] + self.owner_sid[2:]

    @property
    def type(self) -> str:
        return KINDS[PREFIX_OF_KIND[self.kind]][1]

    @property
    def stream(self) -> str:
        return self.owner_sid


def of(kind: str, owner_sid: str) -> SyncObject:
    return SyncObject(kind, owner_sid)


def conversation_objects(conversation_sid: str) -> tuple[SyncObject, SyncObject, SyncObject]:
    return of("conversation", conversation_sid), of("messages", conversation_sid), of("roster", conversation_sid)


def parse(object_sid: str) -> SyncObject | None:
    """The object a SID names, or None for anything else."""
    match = _SID.match(object_sid or "")
    if match is None:
        return None
    kind, _, owner_prefix = KINDS[match.group(1)]
    return SyncObject(kind, owner_prefix + match.group(2))
