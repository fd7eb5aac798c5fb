"""The broker's queues. Webhooks to the application's backend have their own, consumed by their own worker
process, so a slow or dead receiver takes no thread a delivery needs."""

DELIVERY_QUEUE = "bridge"
HOOKS_QUEUE = "hooks"
