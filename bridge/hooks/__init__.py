"""Webhooks to the application's backend, as Twilio Conversations sends them (docs/webhooks.md).

- `configuration`: the targets (account, service and conversation-scoped webhooks) and their validation;
- `targets`: which target an event or an action has, by Twilio's rules (levels, filters, triggers);
- `outbox`: post-event webhooks, planned from the change-event log (`bridge.events`) into calls, one line per
  stream and target, claimed, recorded, swept, pruned and replayed;
- `pre`: pre-event webhooks, asked before a change outside any transaction, which may reject or modify it;
- `held`: inbound messages held until their pre-event webhook has answered;
- `http`: one signed request as Twilio makes it; `admin`: what admins list, read and replay.
"""
