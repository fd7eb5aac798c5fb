"""Where webhooks go: the account's and each service's pre- and post-event settings, with Twilio's validation.

A level that was never written has no row: readers get None and answer Twilio's defaults. Writers create the
row under a lock on its owner (the account's configuration row, or the service's row), so two first writes
cannot make two rows (the unique constraint on `service_id` does not cover the account's NULL).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import errors
from bridge.accounts import CONFIGURATION_ID
from bridge.errors import invalid
from bridge.models import AccountConfiguration, ConversationService, WebhookSettings
from bridge.validation import UNSET, url

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
METHODS = ("GET", "POST")
ACCOUNT_TARGETS = ("webhook", "flex")

# Twilio documents no maximum for a service's retry counts; its Chat API, where they come from, allows 0 to 3
# retries of a webhook (`Configuration.RetryCount`).
MAX_RETRY_COUNT = 3

INVALID_RETRY_COUNT = 50065


# --- the account's and the services' settings ------------------------------------------------------------------


def account_settings(session: Session) -> WebhookSettings | None:
    """The account's settings; None while they were never written."""
    return session.scalar(select(WebhookSettings).where(WebhookSettings.service_id.is_(None)))


def service_settings(session: Session, service: ConversationService) -> WebhookSettings | None:
    """The service's own settings; None while they were never written."""
    return session.scalar(select(WebhookSettings).where(WebhookSettings.service_id == service.id))


def effective_settings(session: Session, service: ConversationService) -> WebhookSettings | None:
    """The settings that apply to the service's conversations: its own when they name a pre- or post-event URL
    (on Twilio, service-scoped webhooks override the global ones, so that only they fire for that service),
    otherwise the account's; None when neither was ever written."""
    own = service_settings(session, service)
    if own is not None and (own.pre_webhook_url or own.post_webhook_url):
        return own
    return account_settings(session)


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
    _update(found, pre_webhook_url, post_webhook_url, filters, method, ACCOUNT_FILTERS)
    if isinstance(target, str):
        found.target = target
    session.flush()
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
    _update(found, pre_webhook_url, post_webhook_url, filters, method, SERVICE_FILTERS)
    if isinstance(pre_webhook_retry_count, str):
        found.pre_webhook_retry_count = _retry_count(pre_webhook_retry_count, "PreWebhookRetryCount")
    if isinstance(post_webhook_retry_count, str):
        found.post_webhook_retry_count = _retry_count(post_webhook_retry_count, "PostWebhookRetryCount")
    session.flush()
    return found


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
    return url(raw, name)


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


def _retry_count(raw: str, name: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_RETRY_COUNT:
        raise invalid(f"{name} must be an integer from 0 to {MAX_RETRY_COUNT}", INVALID_RETRY_COUNT)
    return int(text)


def _choice(value: str, allowed: tuple[str, ...], name: str, code: int = errors.INVALID_PARAMETER) -> str:
    if value not in allowed:
        raise invalid(f"{name} must be one of {', '.join(allowed)}", code)
    return value


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
