"""Push notifications: the account's credentials, a service's notification settings, the devices registered for
push (bindings), and the outbox that sends to FCM and APNs."""
