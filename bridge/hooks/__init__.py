"""Webhooks to the application's backend, as Twilio Conversations sends them.

- `configuration`: the targets (account, service and conversation-scoped webhooks) and their validation;
- post-event webhooks follow the change-event log (`bridge.events`) through an outbox of calls, one line per
  stream and target, retried and replayable;
- pre-event webhooks are called before a change, outside any transaction, and may reject or modify it.
"""
