"""Media through the official Conversations SDK (under Node, its own mcs-client) against the bridge's media service
(`/MCS/v1/Services/{IS}/Media`, `.../MediaSet`): sending files from a client, seeing them in another client and
opening them through temporary URLs, MMS to an SMS participant, inbound MMS, and what the service refuses."""

from __future__ import annotations

import base64
import time
from datetime import timedelta
from typing import Any

import requests
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant
from twilio.rest import Client

from bridge import media as media_domain
from bridge.timeutil import utcnow
from tests.integration import test_chat_sdk
from tests.integration.conftest import CUSTOMER, Api
from tests.integration.test_chat_sdk import Chat, support_conversation
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from tests.support.media_host import MediaHost, body
from tests.support.twilsock_client import RawClient
from tests.support.waiting import eventually

# The chat suite's fixtures: the gateway, the Node driver and a chat backend's keys.
gateway, driver, chat = test_chat_sdk.gateway, test_chat_sdk.driver, test_chat_sdk.chat

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg" * 500
REFUSED_ORIGIN = "https://elsewhere.example"

SEND_MEDIA = """async (client, args) => {
  const conversation = await client.getConversationBySid(args.sid);
  return await conversation.sendMessage({
    contentType: args.contentType, filename: args.filename, media: Buffer.from(args.data, 'base64'),
  });
}"""
SEND_BUILT = """async (client, args) => {
  const conversation = await client.getConversationBySid(args.sid);
  let builder = conversation.prepareMessage().setBody(args.body);
  for (const file of args.files) {
    const media = file.data ? Buffer.from(file.data, 'base64') : Buffer.alloc(file.size, 7);
    builder = builder.addMedia({ contentType: file.contentType, filename: file.filename, media });
  }
  return await builder.build().send();
}"""
# What the SDK rejects a send with: the bridge's Twilio error as the SDK hands it on (`body`, from the media
# service's answer or the client API's).
REFUSAL_OF_SEND_BUILT = f"""async (client, args) => {{
  try {{
    return {{ sent: await ({SEND_BUILT})(client, args) }};
  }} catch (e) {{
    return {{ status: e.body && e.body.status, code: e.body && e.body.code, message: e.body && e.body.message }};
  }}
}}"""
# The message's files, opened as a client opens them: one temporary URL per file (each asks the media service).
TEMPORARY_URLS = """async (client, args) => {
  const conversation = await client.getConversationBySid(args.sid);
  const page = await conversation.getMessages(30);
  const message = page.items.find((m) => m.index === args.index);
  const urls = [];
  for (const media of message.attachedMedia) urls.push(await media.getContentTemporaryUrl());
  return urls;
}"""
# All of them at once (one MediaSet request).
URLS_AT_ONCE = """async (client, args) => {
  const conversation = await client.getConversationBySid(args.sid);
  const page = await conversation.getMessages(30);
  const message = page.items.find((m) => m.index === args.index);
  return await message.getTemporaryContentUrlsForAttachedMedia();
}"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def added_with_media(chat: Chat, name: str, index: int) -> dict[str, Any]:
    return chat.driver.wait_event(name, "messageAdded", lambda m: m["index"] == index and m["attachedMedia"])["data"]


def fetched(url: str) -> requests.Response:
    response = requests.get(url, timeout=30)  # no credentials: the temporary URL is all it takes
    assert response.status_code == 200, response.text
    return response


def mcs(live: LiveBridge, service_sid: str) -> str:
    return f"{live.url}/MCS/v1/Services/{service_sid}"


def mcs_upload(chat: Chat, identity: str, data: bytes = PNG, content_type: str = "image/png") -> requests.Response:
    return requests.post(
        f"{mcs(chat.live, chat.service_sid)}/Media",
        params={"Category": "media", "Filename": "dot.png"},
        data=data,
        headers={"X-Twilio-Token": chat.token(identity), "Content-Type": content_type},
        timeout=60,
    )


# --- sending, seeing, opening --------------------------------------------------------------------------------


def test_a_picture_from_one_client_opens_in_the_other_and_reaches_the_sms_participant_as_mms(
    chat: Chat, client: Client, sender_pool: dict[str, str], worker: FakeCarrier
) -> None:
    sid = support_conversation(client, sender_pool["sms"], "alice", "bob")
    chat.connect("alice")
    chat.connect("bob")

    index = chat.driver.run(
        "alice", SEND_MEDIA, {"sid": sid, "contentType": "image/png", "filename": "dot.png", "data": b64(PNG)}
    )
    seen = added_with_media(chat, "bob", index)
    (attached,) = seen["attachedMedia"]
    assert seen["type"] == "media" and seen["author"] == "alice"
    assert (attached["filename"], attached["contentType"], attached["size"]) == ("dot.png", "image/png", len(PNG))
    assert attached["category"] == "media" and attached["sid"].startswith("ME")

    (url,) = chat.driver.run("bob", TEMPORARY_URLS, {"sid": sid, "index": index})
    assert url.startswith(f"{chat.live.url}/media/{attached['sid']}/")
    content = fetched(url)
    assert content.content == PNG and content.headers["Content-Type"] == "image/png"

    (mms,) = worker.wait_for(1)  # CUSTOMER's number is a US one: the file goes as MMS, at the bridge's URL
    assert mms.to_address == CUSTOMER and len(mms.media_urls) == 1
    assert requests.get(mms.media_urls[0], timeout=30).content == PNG

    (rest,) = client.conversations.v1.conversations(sid).messages.list()
    assert [item["sid"] for item in rest.media] == [attached["sid"]]


def test_a_built_message_carries_several_files_and_a_body(
    chat: Chat, client: Client, sender_pool: dict[str, str], worker: FakeCarrier
) -> None:
    sid = support_conversation(client, sender_pool["sms"], "alice", "bob")
    chat.connect("alice")
    chat.connect("bob")
    files = [
        {"contentType": "image/png", "filename": "dot.png", "data": b64(PNG)},
        {"contentType": "image/jpeg", "filename": "photo.jpg", "data": b64(JPEG)},
    ]
    index = chat.driver.run("alice", SEND_BUILT, {"sid": sid, "body": "two files", "files": files})
    seen = added_with_media(chat, "bob", index)
    assert seen["body"] == "two files"
    assert [(m["filename"], m["contentType"]) for m in seen["attachedMedia"]] == [
        ("dot.png", "image/png"),
        ("photo.jpg", "image/jpeg"),
    ]
    urls = chat.driver.run("bob", URLS_AT_ONCE, {"sid": sid, "index": index})
    by_sid = {m["sid"]: m for m in seen["attachedMedia"]}
    assert set(urls) == set(by_sid)
    assert [fetched(urls[m["sid"]]).content for m in seen["attachedMedia"]] == [PNG, JPEG]
    (mms,) = worker.wait_for(1)
    assert mms.body == "two files" and len(mms.media_urls) == 2


def test_media_sent_over_rest_with_a_media_sid_opens_in_the_sdk(
    chat: Chat, client: Client, api: Api, live: LiveBridge
) -> None:
    conversation = client.conversations.v1.conversations.create(friendly_name="from the backend")
    conversation.participants.create(identity="bob")
    chat.connect("bob")
    uploaded = api.post(
        f"/v1/Services/{chat.service_sid}/Media", data=PNG, headers={"Content-Type": "image/png"}
    ).json()
    message = conversation.messages.create(media_sid=uploaded["sid"])
    seen = added_with_media(chat, "bob", message.index)
    assert [m["sid"] for m in seen["attachedMedia"]] == [uploaded["sid"]]
    (url,) = chat.driver.run("bob", TEMPORARY_URLS, {"sid": conversation.sid, "index": message.index})
    assert fetched(url).content == PNG


def test_an_inbound_mms_shows_in_the_sdk_and_opens_once_the_worker_has_fetched_it(
    chat: Chat, client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    carrier_media = MediaHost()
    try:
        carrier_media.route("/Media/ME1", body(JPEG, "image/jpeg"))
        sid = support_conversation(client, sender_pool["sms"], "alice")
        chat.connect("alice")
        params = worker.inbound_params(
            CUSTOMER, sender_pool["sms"], "a photo", media=[(carrier_media.url("/Media/ME1"), "image/jpeg")]
        )
        assert worker.post_inbound(live.url, params).status_code == 200

        seen = added_with_media(chat, "alice", 0)
        assert seen["author"] == CUSTOMER and seen["body"] == "a photo"
        (attached,) = seen["attachedMedia"]
        assert attached["contentType"] == "image/jpeg"
        # Listed at once; until the worker has stored it, the media service has no URL for it (null).
        (url,) = eventually(
            lambda: [u for u in chat.driver.run("alice", TEMPORARY_URLS, {"sid": sid, "index": 0}) if u]
        )
        content = fetched(url)
        assert content.content == JPEG and content.headers["Content-Type"] == "image/jpeg"
        assert carrier_media.url("/Media/ME1") not in url
    finally:
        carrier_media.stop()


# --- what the media service refuses --------------------------------------------------------------------------


def expired_token(chat: Chat, identity: str) -> str:
    token = AccessToken(
        chat.live.account_sid,
        chat.key.sid,
        chat.key.secret,
        identity=identity,
        nbf=int(time.time()) - 7200,
        valid_until=int(time.time()) - 3600,
    )
    token.add_grant(ChatGrant(service_sid=chat.service_sid))
    return token.to_jwt()


def test_uploads_and_reads_need_a_valid_token_for_the_paths_service(chat: Chat, api: Api, live: LiveBridge) -> None:
    other_service = api.post("/v1/Services", data={"FriendlyName": "elsewhere"}).json()["sid"]
    uploaded = mcs_upload(chat, "alice")
    assert uploaded.status_code == 201, uploaded.text
    record = uploaded.json()
    assert (record["author"], record["service_sid"], record["size"]) == ("alice", chat.service_sid, len(PNG))
    media_url = f"{mcs(live, chat.service_sid)}/Media/{record['sid']}"
    assert record["url"] == media_url

    refusals = {
        "no token": ({}, 401, 20101),
        "not a token": ({"X-Twilio-Token": "not-a-jwt"}, 401, 20101),
        "an expired token": ({"X-Twilio-Token": expired_token(chat, "alice")}, 401, 20104),
        "the API's Basic credentials": (
            {"Authorization": "Basic " + b64(f"{live.account_sid}:{live.auth_token}".encode())},
            401,
            20101,
        ),
    }
    for what, (headers, status, code) in refusals.items():
        for method, url in (("GET", media_url), ("POST", f"{mcs(live, chat.service_sid)}/Media")):
            reply = requests.request(
                method, url, data=PNG, headers={"Content-Type": "image/png", **headers}, timeout=30
            )
            assert (reply.status_code, reply.json()["code"]) == (status, code), f"{method} with {what}"
            assert set(reply.json()) >= {"code", "message", "more_info", "status"}

    elsewhere = requests.get(
        f"{mcs(live, other_service)}/Media/{record['sid']}", headers={"X-Twilio-Token": chat.token("alice")}, timeout=30
    )
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, 20403)
    assert requests.get(media_url, headers={"X-Twilio-Token": chat.token("alice")}, timeout=30).status_code == 200


def test_a_client_reads_only_media_of_its_conversations_and_its_own_uploads(
    chat: Chat, client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    sid = support_conversation(client, sender_pool["sms"], "alice", "bob")
    chat.connect("alice")
    index = chat.driver.run(
        "alice", SEND_MEDIA, {"sid": sid, "contentType": "image/png", "filename": "dot.png", "data": b64(PNG)}
    )
    (sent,) = added_with_media(chat, "alice", index)["attachedMedia"]
    draft = mcs_upload(chat, "alice").json()["sid"]  # uploaded, not sent

    def status(identity: str, media_sid: str) -> int:
        url = f"{mcs(live, chat.service_sid)}/Media/{media_sid}"
        return requests.get(url, headers={"X-Twilio-Token": chat.token(identity)}, timeout=30).status_code

    assert [status("alice", sent["sid"]), status("bob", sent["sid"]), status("carol", sent["sid"])] == [200, 200, 404]
    assert [status("alice", draft), status("bob", draft)] == [200, 404]
    content = requests.get(
        f"{mcs(live, chat.service_sid)}/Media/{sent['sid']}/Content",
        headers={"X-Twilio-Token": chat.token("carol")},
        timeout=30,
    )
    assert content.status_code == 404

    media_set = requests.post(
        f"{mcs(live, chat.service_sid)}/MediaSet",
        json={"command": "get", "list": [{"media_sid": sent["sid"]}, {"media_sid": draft}]},
        headers={"X-Twilio-Token": chat.token("bob")},
        timeout=30,
    )
    assert media_set.status_code == 200
    assert [(item["code"], item["media_record"]["sid"]) for item in media_set.json()] == [
        (200, sent["sid"]),
        (404, draft),
    ]
    assert media_set.json()[0]["media_record"]["message_sid"].startswith("IM")

    # Another user's upload cannot be sent either: bob names alice's draft in a message of his own.
    raw = RawClient(chat.gateway.url)
    try:
        assert raw.init(chat.token("bob")).header["status"]["code"] == 200
        path = f"/Client/v2/Services/{chat.service_sid}/Conversations/{sid}/Messages"
        status_code, refusal = raw.request("POST", path, {"media_sids": [draft]})
        assert (status_code, refusal["code"]) == (400, 20001)
    finally:
        raw.close()


def test_the_sdk_surfaces_an_oversized_file_and_a_message_over_the_total(
    chat: Chat, client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    sid = support_conversation(client, sender_pool["sms"], "alice")
    chat.connect("alice")
    limit = live.settings.media_max_bytes
    too_big = [{"contentType": "application/pdf", "filename": "big.pdf", "size": limit + 1}]
    refused = chat.driver.run("alice", REFUSAL_OF_SEND_BUILT, {"sid": sid, "body": "big", "files": too_big}, 120)
    assert (refused["status"], refused["code"]) == (413, 20001) and str(limit) in refused["message"]

    half = media_domain.MAX_MESSAGE_MEDIA_BYTES // 2 + 1  # each file fits, the two together do not
    two_halves = [{"contentType": "application/pdf", "filename": f"part{n}.pdf", "size": half} for n in (1, 2)]
    over_total = chat.driver.run("alice", REFUSAL_OF_SEND_BUILT, {"sid": sid, "body": "x", "files": two_halves}, 120)
    assert (over_total["status"], over_total["code"]) == (400, 20001) and "total" in over_total["message"]
    assert client.conversations.v1.conversations(sid).messages.list() == []


def test_a_message_with_eleven_files_is_refused(chat: Chat, client: Client, live: LiveBridge) -> None:
    conversation = client.conversations.v1.conversations.create(friendly_name="many")
    conversation.participants.create(identity="alice")
    sids = [mcs_upload(chat, "alice").json()["sid"] for _ in range(11)]
    raw = RawClient(chat.gateway.url)
    try:
        assert raw.init(chat.token("alice")).header["status"]["code"] == 200
        path = f"/Client/v2/Services/{chat.service_sid}/Conversations/{conversation.sid}/Messages"
        status, refusal = raw.request("POST", path, {"media_sids": sids})
        assert (status, refusal["code"]) == (400, 20001) and "10" in refusal["message"]
        status, accepted = raw.request("POST", path, {"media_sids": sids[:10]})
        assert status == 201 and len(accepted["medias"]) == 10 and accepted["type"] == "media"
    finally:
        raw.close()
    assert len(conversation.messages.list()[0].media) == 10


def test_cors_preflight_answers_an_allowed_origin_and_refuses_another(chat: Chat, live: LiveBridge) -> None:
    url = f"{mcs(live, chat.service_sid)}/Media"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-twilio-token"}
    allowed = requests.options(url, headers={"Origin": live.url, **preflight}, timeout=30)
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == live.url
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert {"x-twilio-token", "content-type"} <= {
        h.strip().lower() for h in allowed.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert int(allowed.headers["Access-Control-Max-Age"]) > 0

    refused = requests.options(url, headers={"Origin": REFUSED_ORIGIN, **preflight}, timeout=30)
    assert refused.status_code == 403
    assert not [h for h in refused.headers if h.lower().startswith("access-control-")]

    token = {"X-Twilio-Token": chat.token("alice"), "Content-Type": "image/png"}
    upload = requests.post(url, data=PNG, headers={"Origin": live.url, **token}, timeout=30)
    assert upload.status_code == 201 and upload.headers["Access-Control-Allow-Origin"] == live.url
    stranger = requests.post(url, data=PNG, headers={"Origin": REFUSED_ORIGIN, **token}, timeout=30)
    assert (stranger.status_code, stranger.json()["code"]) == (403, 20403)
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_a_temporary_url_expires_and_a_forged_one_never_works(chat: Chat, live: LiveBridge) -> None:
    record = mcs_upload(chat, "alice").json()
    sid = record["sid"]
    assert fetched(record["links"]["content_direct_temporary"]).content == PNG

    issued_long_ago = utcnow() - timedelta(seconds=media_domain.TEMPORARY_URL_SECONDS + 60)
    expired = requests.get(media_domain.temporary_url(live.settings, sid, issued_long_ago), timeout=30)
    assert (expired.status_code, expired.json()["code"]) == (403, 20403)

    token = record["links"]["content_direct_temporary"].rsplit("/", 1)[1]
    expires, mac = token.split(".")
    forged = {
        "a later expiry with the same signature": f"{int(expires) + 3600}.{mac}",
        "another media's signature": media_domain.temporary_token(live.settings, "ME" + "0" * 32, int(expires)),
        "no signature": f"{expires}.",
    }
    for what, bad in forged.items():
        reply = requests.get(f"{live.url}/media/{sid}/{bad}", timeout=30)
        assert reply.status_code == 404 and reply.json()["code"] == 20404, what
