from twilio.rest import Client


def test_default_service_listed(client: Client) -> None:
    services = client.conversations.v1.services.list()
    assert [s.friendly_name for s in services] == ["Default Conversations Service"]


def test_conversation_round_trip(client: Client) -> None:
    conv = client.conversations.v1.conversations.create(friendly_name="Support", unique_name="support-1")
    fetched = client.conversations.v1.conversations("support-1").fetch()
    assert fetched.sid == conv.sid
    assert fetched.date_created.tzinfo is not None
