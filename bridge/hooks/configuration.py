"""Where webhooks go: the account's and each service's pre- and post-event settings, and the webhooks scoped to
one conversation, with Twilio's validation and error codes.

A level that was never written has no row: readers get None and answer Twilio's defaults. Writers create the
row under a lock on its owner (the account's configuration row, or the service's row), so two first writes
cannot make two rows (the unique constraint on `service_id` does not cover the account's NULL).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bridge import errors, validation
from bridge.accounts import CONFIGURATION_ID
from bridge.address_configurations import WEBHOOK_FILTERS as AUTOCREATION_WEBHOOK_FILTERS
from bridge.conversations import lock_conversation
from bridge.errors import invalid, not_found
from bridge.hooks import outbox, targets
from bridge.models import AccountConfiguration, Conversation, ConversationService, ConversationWebhook, WebhookSettings
from bridge.sids import is_sid, new_sid
from bridge.validation import UNSET

# Twilio's event names, in the order its spec lists them (`/v1/Configuration/Webhooks`, `Filters`).
ACCOUNT_FILTERS = (
    "onMessageAdded",
    "onMessageUpdated",
    "onMessageRemoved",
    "onMessageAdd",
    "onMessageUpdate",
    "onMessageRemove",
    "onConversationUpdated",
    "onConversationRemoved",
    "onConversationAdd",
    "onConversationAdded",
    "onConversationRemove",
    "onConversationUpdate",
    "onConversationStateUpdated",
    "onParticipantAdded",
    "onParticipantUpdated",
    "onParticipantRemoved",
    "onParticipantAdd",
    "onParticipantRemove",
    "onParticipantUpdate",
    "onDeliveryUpdated",
    "onUserAdded",
    "onUserUpdate",
    "onUserUpdated",
)
USER_FILTERS = frozenset({"onUserAdded", "onUserUpdate", "onUserUpdated"})
# A service's list is the account's without the user events (Twilio's documented service filters).
SERVICE_FILTERS = tuple(name for name in ACCOUNT_FILTERS if name not in USER_FILTERS)
# Conversation-scoped webhooks are post-event only and see only their conversation's events: the events an
# address configuration's autocreation webhook takes.
CONVERSATION_FILTERS = AUTOCREATION_WEBHOOK_FILTERS

METHODS = ("GET", "POST")
ACCOUNT_TARGETS = ("webhook", "flex")
WEBHOOK, TRIGGER, STUDIO = "webhook", "trigger", "studio"
CONVERSATION_TARGETS = (WEBHOOK, TRIGGER, STUDIO)

# Twilio's limits for conversation-scoped webhooks (its error pages 50361, 50362, 50366, 50372).
MAX_CONVERSATION_WEBHOOKS = 5
MAX_TRIGGERS = 5
TRIGGER_LIMIT = 248
CONVERSATION_WEBHOOK_URL_LIMIT = 512
# Twilio documents no maximum for a service's retry counts; its Chat API, where they come from, allows 0 to 3
# retries of a webhook (`Configuration.RetryCount`).
MAX_RETRY_COUNT = 3

# Twilio's codes.
INVALID_RETRY_COUNT = 50065
WEBHOOK_NOT_FOUND = 50360
TOO_MANY_WEBHOOKS = 50361
TOO_MANY_TRIGGERS = 50362
INVALID_WEBHOOK_SID = 50363
INVALID_TARGET = 50364
INVALID_FILTER = 50365
INVALID_TRIGGER = 50366
INVALID_FLOW_SID = 50367
TARGET_MISSING = 50368
URL_MISSING = 50369
FILTERS_MISSING = 50370
TRIGGERS_MISSING = 50371
URL_TOO_LONG = 50372


# --- the account's and the services' settings ------------------------------------------------------------------


def account_settings(session: Session) -> WebhookSettings | None:
    """The account's settings; None while they were never written."""
    return session.scalar(select(WebhookSettings).where(WebhookSettings.service_id.is_(None)))


def service_settings(session: Session, service: ConversationService) -> WebhookSettings | None:
    """The service's own settings; None while they were never written."""
    return session.scalar(select(WebhookSettings).where(WebhookSettings.service_id == service.id))


def update_account_settings(
    session: Session,
    *,
    pre_webhook_url: str | object = UNSET,
    post_webhook_url: str | object = UNSET,
    filters: list[str] | object = UNSET,
    method: str | object = UNSET,
    target: str | object = UNSET,
) -> WebhookSettings:
    if isinstance(target, str):
        target = _choice(target.strip().lower(), ACCOUNT_TARGETS, "Target")
    found = _settings_row(session, None)
    outbox.plan_before_change(session)
    _update(found, pre_webhook_url, post_webhook_url, filters, method, ACCOUNT_FILTERS)
    if isinstance(target, str):
        found.target = target
    session.flush()
    refresh_service_flags(session)
    return found


def update_service_settings(
    session: Session,
    service: ConversationService,
    *,
    pre_webhook_url: str | object = UNSET,
    post_webhook_url: str | object = UNSET,
    filters: list[str] | object = UNSET,
    method: str | object = UNSET,
    pre_webhook_retry_count: str | object = UNSET,
    post_webhook_retry_count: str | object = UNSET,
) -> WebhookSettings:
    found = _settings_row(session, service)
    outbox.plan_before_change(session)
    _update(found, pre_webhook_url, post_webhook_url, filters, method, SERVICE_FILTERS)
    if isinstance(pre_webhook_retry_count, str):
        found.pre_webhook_retry_count = _retry_count(pre_webhook_retry_count, "PreWebhookRetryCount")
    if isinstance(post_webhook_retry_count, str):
        found.post_webhook_retry_count = _retry_count(post_webhook_retry_count, "PostWebhookRetryCount")
    session.flush()
    refresh_service_flags(session, service)
    return found


def refresh_service_flags(session: Session, only: ConversationService | None = None) -> None:
    """Each service's `pre_webhooks` and `post_webhooks`, from the settings that apply to it now: after the
    account's settings change, every service's (there are few); after a service's own, that one's."""
    account = account_settings(session)
    services = [only] if only is not None else list(session.scalars(select(ConversationService)))
    own = {
        row.service_id: row
        for row in session.scalars(
            select(WebhookSettings).where(WebhookSettings.service_id.in_([service.id for service in services]))
        )
    }
    for service in services:
        service.pre_webhooks, service.post_webhooks = targets.flags_of(account, own.get(service.id))
    session.flush()


def _settings_row(session: Session, service: ConversationService | None) -> WebhookSettings:
    """The level's row, created on its first write. The owner's row lock serialises first writers (SQLite's
    transactions are serialised anyway: every one begins IMMEDIATE)."""
    if service is None:
        owner = select(AccountConfiguration.id).where(AccountConfiguration.id == CONFIGURATION_ID)
    else:
        owner = select(ConversationService.id).where(ConversationService.id == service.id)
    session.execute(owner.with_for_update())
    found = account_settings(session) if service is None else service_settings(session, service)
    if found is None:
        found = WebhookSettings(service_id=None if service is None else service.id, filters=[])
        session.add(found)
    return found


def _update(
    found: WebhookSettings,
    pre_webhook_url: str | object,
    post_webhook_url: str | object,
    filters: list[str] | object,
    method: str | object,
    allowed_filters: tuple[str, ...],
) -> None:
    # Everything is checked before anything changes: a refused request leaves the row as it was.
    pre = _settings_url(pre_webhook_url, "PreWebhookUrl")
    post = _settings_url(post_webhook_url, "PostWebhookUrl")
    chosen_filters = _settings_filters(filters, allowed_filters)
    chosen_method = _choice(method.strip().upper(), METHODS, "Method") if isinstance(method, str) else UNSET
    if pre is not UNSET:
        found.pre_webhook_url = pre if isinstance(pre, str) else None
    if post is not UNSET:
        found.post_webhook_url = post if isinstance(post, str) else None
    if isinstance(chosen_filters, list):
        found.filters = chosen_filters
    if isinstance(chosen_method, str):
        found.method = chosen_method


def _settings_url(raw: str | object, name: str) -> str | object | None:
    """A URL to set, None to clear it (sent empty), UNSET to leave it."""
    if not isinstance(raw, str):
        return UNSET
    if raw == "":
        return None
    return validation.url(raw, name)


def _settings_filters(raw: list[str] | object, allowed: tuple[str, ...]) -> list[str] | object:
    """The event names, in the order given, each once. `Filters=` with only empty values clears the list: a form
    has no other way to send an empty one."""
    if not isinstance(raw, list):
        return UNSET
    names = [name for name in raw if name != ""]
    for name in names:
        if name not in allowed:
            raise invalid(f"Filters: {name!r} is not one of {', '.join(allowed)}")
    return _distinct(names)


RETRY_COUNTS = {str(count): count for count in range(MAX_RETRY_COUNT + 1)}


def _retry_count(raw: str, name: str) -> int:
    # Looked up, never parsed: int() refuses strings of over 4,300 digits with a ValueError of its own.
    if raw.strip() not in RETRY_COUNTS:
        raise invalid(f"{name} must be an integer from 0 to {MAX_RETRY_COUNT}", INVALID_RETRY_COUNT)
    return RETRY_COUNTS[raw.strip()]


def _choice(value: str, allowed: tuple[str, ...], name: str, code: int = errors.INVALID_PARAMETER) -> str:
    if value not in allowed:
        raise invalid(f"{name} must be one of {', '.join(allowed)}", code)
    return value


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


# --- conversation-scoped webhooks ----------------------------------------------------------------------------


def conversation_webhooks_query(conversation: Conversation) -> Select[tuple[ConversationWebhook]]:
    return select(ConversationWebhook).where(ConversationWebhook.conversation_id == conversation.id)


def find_conversation_webhook(session: Session, conversation: Conversation, sid: str) -> ConversationWebhook:
    """By SID, and only inside `conversation`."""
    if not is_sid(sid, "WH"):
        raise invalid(f"{sid!r} is not a conversation webhook SID (WH...)", INVALID_WEBHOOK_SID)
    found = session.scalar(
        select(ConversationWebhook).where(
            ConversationWebhook.conversation_id == conversation.id, ConversationWebhook.sid == sid
        )
    )
    if found is None:
        raise not_found(f"Webhook {sid} not found in conversation {conversation.sid}", WEBHOOK_NOT_FOUND)
    return found


def create_conversation_webhook(
    session: Session,
    conversation: Conversation,
    target: str | None,
    *,
    url: str | object = UNSET,
    method: str | object = UNSET,
    filters: list[str] | object = UNSET,
    triggers: list[str] | object = UNSET,
    flow_sid: str | object = UNSET,
    replay_after: int | None = None,
) -> ConversationWebhook:
    """A new webhook of the conversation: `webhook` (events to a URL), `trigger` (messages with a keyword to a
    URL) or `studio` (a flow; the bridge posts to `url` when one is given). At most five per conversation."""
    if not target:
        raise invalid("Missing required parameter Target", TARGET_MISSING)
    kind = _choice(target.strip().lower(), CONVERSATION_TARGETS, "Target", INVALID_TARGET)
    if replay_after is not None and replay_after < 0:
        raise invalid("Configuration.ReplayAfter must be a message index (0 or more)")
    webhook = ConversationWebhook(
        sid=new_sid("WH"), conversation_id=conversation.id, target=kind, replay_after=replay_after
    )
    _configure(webhook, url=url, method=method, filters=filters, triggers=triggers, flow_sid=flow_sid)
    # The conversation's row lock orders concurrent creators, so the count below stays true until commit.
    lock_conversation(session, conversation)
    outbox.plan_before_change(session)
    existing = session.scalar(select(func.count()).select_from(conversation_webhooks_query(conversation).subquery()))
    if (existing or 0) >= MAX_CONVERSATION_WEBHOOKS:
        raise invalid(
            f"A conversation has at most {MAX_CONVERSATION_WEBHOOKS} webhooks; remove one first", TOO_MANY_WEBHOOKS
        )
    session.add(webhook)
    conversation.scoped_webhooks = True
    session.flush()
    if replay_after is not None:
        outbox.replay_messages(session, conversation, webhook, replay_after)
    return webhook


def update_conversation_webhook(
    session: Session,
    webhook: ConversationWebhook,
    *,
    url: str | object = UNSET,
    method: str | object = UNSET,
    filters: list[str] | object = UNSET,
    triggers: list[str] | object = UNSET,
    flow_sid: str | object = UNSET,
) -> ConversationWebhook:
    """Changes what was given; the target and ReplayAfter stay as created. The result must still be complete
    for its target (a webhook keeps a URL and its filters, a trigger its URL and keywords, a flow its SID)."""
    outbox.plan_before_change(session)
    _configure(webhook, url=url, method=method, filters=filters, triggers=triggers, flow_sid=flow_sid)
    session.flush()
    return webhook


def delete_conversation_webhook(session: Session, webhook: ConversationWebhook) -> None:
    conversation = session.get(Conversation, webhook.conversation_id)
    outbox.plan_before_change(session)
    session.delete(webhook)
    session.flush()
    if conversation is not None:
        conversation.scoped_webhooks = bool(session.scalar(select(conversation_webhooks_query(conversation).exists())))
        session.flush()


def _configure(
    webhook: ConversationWebhook,
    *,
    url: str | object,
    method: str | object,
    filters: list[str] | object,
    triggers: list[str] | object,
    flow_sid: str | object,
) -> None:
    """Checks the webhook as it would be with these changes, then applies them (all or nothing). Each target
    reads the parameters it uses and ignores the others, as Twilio ignores what does not apply."""
    kind = webhook.target
    new_url = _webhook_url(url) if isinstance(url, str) else webhook.url
    new_method = (
        _choice(method.strip().lower(), ("get", "post"), "Configuration.Method")
        if isinstance(method, str)
        else webhook.method or "post"
    )
    new_filters = list(webhook.filters or [])
    new_triggers = list(webhook.triggers or [])
    new_flow_sid = webhook.flow_sid
    if kind in (WEBHOOK, TRIGGER) and not new_url:
        raise invalid("Configuration.Url is required for this target", URL_MISSING)
    if kind in (WEBHOOK, STUDIO) and isinstance(filters, list):
        new_filters = _conversation_filters(filters)
    if kind == WEBHOOK and not new_filters:
        raise invalid("Configuration.Filters is required for a webhook target", FILTERS_MISSING)
    if kind == TRIGGER:
        if isinstance(triggers, list):
            new_triggers = _triggers(triggers)
        if not new_triggers:
            raise invalid("Configuration.Triggers is required for a trigger target", TRIGGERS_MISSING)
    if kind == STUDIO:
        if isinstance(flow_sid, str):
            new_flow_sid = flow_sid
        if not is_sid(new_flow_sid, "FW"):
            raise invalid("Configuration.FlowSid must be a Studio Flow SID (FW...)", INVALID_FLOW_SID)
    webhook.url = new_url
    webhook.method = new_method
    webhook.filters = new_filters
    webhook.triggers = new_triggers
    webhook.flow_sid = new_flow_sid


def _webhook_url(raw: str) -> str | None:
    if raw == "":
        return None
    if len(raw) > CONVERSATION_WEBHOOK_URL_LIMIT:
        raise invalid(f"Configuration.Url must be at most {CONVERSATION_WEBHOOK_URL_LIMIT} characters", URL_TOO_LONG)
    return validation.url(raw, "Configuration.Url")


def _conversation_filters(raw: list[str]) -> list[str]:
    for name in raw:
        if name not in CONVERSATION_FILTERS:
            raise invalid(
                f"Configuration.Filters: {name!r} is not one of {', '.join(CONVERSATION_FILTERS)}", INVALID_FILTER
            )
    return _distinct(raw)


def _triggers(raw: list[str]) -> list[str]:
    keywords = _distinct(raw)
    if len(keywords) > MAX_TRIGGERS:
        raise invalid(f"At most {MAX_TRIGGERS} Configuration.Triggers keywords", TOO_MANY_TRIGGERS)
    for keyword in keywords:
        if keyword == "" or len(keyword) > TRIGGER_LIMIT:
            raise invalid(
                f"Each Configuration.Triggers keyword must be 1 to {TRIGGER_LIMIT} characters", INVALID_TRIGGER
            )
    return keywords
