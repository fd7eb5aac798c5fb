"""Where a webhook goes: the targets an event or an action has, by Twilio's rules.

- The account's settings apply to every service, unless the service has settings of its own (a pre- or
  post-event URL): then only the service's apply to its conversations.
- `Filters` gate both kinds: an event type not listed does not fire.
- Conversation-scoped webhooks are post-event only: `webhook` targets by their filters, `trigger` targets on a
  new message whose text starts with one of their keywords, `studio` targets on a new message (sent to their
  URL when they have one; the bridge runs no Studio flows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bridge.models import ConversationService, ConversationWebhook, WebhookSettings

ACCOUNT, SERVICE = "account", "service"
MESSAGE_ADDED = "onMessageAdded"


@dataclass(frozen=True)
class Target:
    key: str  # account | service | the conversation-scoped webhook's SID
    url: str
    method: str  # GET | POST
    retry_count: int = 0  # Twilio's PostWebhookRetryCount (account and service settings)
    extra: dict[str, str] = field(default_factory=dict)  # fields only this target's payload carries


def flags_of(account: WebhookSettings | None, service: WebhookSettings | None) -> tuple[bool, bool]:
    """(pre, post): whether the settings that apply name a pre-event URL and a post-event URL (what a service
    keeps in `pre_webhooks` and `post_webhooks`)."""
    chosen = effective_settings(account, service)
    if chosen is None:
        return False, False
    return bool(chosen[1].pre_webhook_url), bool(chosen[1].post_webhook_url)


def effective_settings(
    account: WebhookSettings | None, service: WebhookSettings | None
) -> tuple[str, WebhookSettings] | None:
    """The settings that apply to a service's conversations, and which level they come from."""
    if service is not None and (service.pre_webhook_url or service.post_webhook_url):
        return SERVICE, service
    if account is not None:
        return ACCOUNT, account
    return None


def settings_target(level: str, settings: WebhookSettings, event_type: str, pre: bool) -> Target | None:
    url = settings.pre_webhook_url if pre else settings.post_webhook_url
    if not url or event_type not in (settings.filters or []):
        return None
    if level == ACCOUNT and settings.target != "webhook":
        return None  # Flex: nothing the bridge can call
    retries = settings.pre_webhook_retry_count if pre else settings.post_webhook_retry_count
    return Target(level, url, (settings.method or "POST").upper(), retries or 0)


def scoped_target(webhook: ConversationWebhook, event_type: str, body: str | None) -> Target | None:
    method = (webhook.method or "post").upper()
    extra = {"WebhookSid": webhook.sid, "WebhookType": webhook.target}
    if webhook.target == "webhook":
        if webhook.url and event_type in (webhook.filters or []):
            return Target(webhook.sid, webhook.url, method, extra=extra)
        return None
    if event_type != MESSAGE_ADDED or not webhook.url:
        return None
    if webhook.target == "trigger" and not triggered(body, webhook.triggers or []):
        return None
    return Target(webhook.sid, webhook.url, method, extra=extra)


def triggered(body: str | None, keywords: list[str]) -> bool:
    """A trigger keyword fires when the message starts with it as a whole word (any case): "help" fires on
    "Help me", not on "helpful"."""
    text = (body or "").strip().casefold()
    for keyword in keywords:
        word = keyword.strip().casefold()
        if word and text.startswith(word) and (len(text) == len(word) or not text[len(word)].isalnum()):
            return True
    return False


def load_settings(session: Session, service_id: int) -> tuple[WebhookSettings | None, WebhookSettings | None]:
    """The account's settings and the service's (either may be missing)."""
    rows = session.scalars(
        select(WebhookSettings).where(
            or_(WebhookSettings.service_id.is_(None), WebhookSettings.service_id == service_id)
        )
    ).all()
    account = next((row for row in rows if row.service_id is None), None)
    service = next((row for row in rows if row.service_id == service_id), None)
    return account, service


def pre_event_target(session: Session, service: ConversationService, event_type: str) -> Target | None:
    """The pre-event webhook an action of this service calls first, if any (no query unless the service has one)."""
    if not service.pre_webhooks:
        return None
    chosen = effective_settings(*load_settings(session, service.id))
    if chosen is None:
        return None
    return settings_target(chosen[0], chosen[1], event_type, pre=True)
