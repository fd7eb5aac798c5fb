"""Media: MCS-style uploads, fetches and content, public signed URLs, MediaSid on messages, inbound pending
media, and S3-compatible storage (a moto server on loopback stands in for the outside world's S3)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from sqlalchemy import select
from twilio.rest import Client

from bridge import media as media_domain
from bridge.config import Settings
from bridge.fetch import fetch
from bridge.media_storage import DatabaseStore, MediaStorageError, S3Store, build_store
from bridge.models import Media, MediaContent
from tests.integration.conftest import Api
from tests.support.live import LiveBridge, free_port, start_live_bridge
from tests.support.media_host import MediaHost, body, redirect

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg-bytes" * 300


@pytest.fixture
def service_sid(api: Api) -> str:
    return str(api.get("/v1/Configuration").json()["default_chat_service_sid"])


def upload(
    api: Api, service_sid: str, data: bytes = PNG, content_type: str | None = "image/png", **params: str
) -> requests.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return api.post(f"/v1/Services/{service_sid}/Media", data=data, headers=headers, params=params)


def uploaded(api: Api, service_sid: str, data: bytes = PNG, content_type: str = "image/png", **params: str) -> Any:
    response = upload(api, service_sid, data, content_type, **params)
    assert response.status_code == 201, response.text
    return response.json()


def new_conversation(api: Api, prefix: str = "/v1") -> str:
    response = api.post(f"{prefix}/Conversations", data={"FriendlyName": "media"})
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


# --- upload, fetch, content ----------------------------------------------------------------------------------


def test_raw_upload_as_twilio_documents_it(api: Api, live: LiveBridge, service_sid: str) -> None:
    media = uploaded(api, service_sid, PNG, "image/png", Filename="chart.png")
    assert media["sid"].startswith("ME")
    assert media["service_sid"] == service_sid
    assert media["account_sid"] == live.account_sid
    assert media["size"] == len(PNG)
    assert media["content_type"] == "image/png"
    assert media["filename"] == "chart.png"
    assert media["author"] == "system"
    assert media["category"] == "media"
    assert media["message_sid"] is None and media["channel_sid"] is None
    assert media["url"] == f"{live.url}/v1/Services/{service_sid}/Media/{media['sid']}"
    assert media["links"]["content"] == media["url"] + "/Content"
    assert media["links"]["content_direct_temporary"] == media_domain.public_url(live.settings, media["sid"])

    fetched = api.get(f"/v1/Services/{service_sid}/Media/{media['sid']}")
    assert fetched.status_code == 200 and fetched.json() == media

    content = api.get(f"/v1/Services/{service_sid}/Media/{media['sid']}/Content")
    assert content.status_code == 200
    assert content.content == PNG
    assert content.headers["Content-Type"] == "image/png"
    assert content.headers["X-Content-Type-Options"] == "nosniff"
    assert "chart.png" in content.headers["Content-Disposition"]


def test_the_public_url_needs_no_credentials_and_only_the_right_token(
    api: Api, live: LiveBridge, service_sid: str
) -> None:
    media = uploaded(api, service_sid, JPEG, "image/jpeg")
    url = media["links"]["content_direct_temporary"]
    public = requests.get(url, timeout=10)  # no auth at all
    assert public.status_code == 200
    assert public.content == JPEG
    assert public.headers["Content-Type"] == "image/jpeg"
    assert public.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert requests.head(url, timeout=10).status_code == 200

    other = uploaded(api, service_sid, PNG)
    prefix, token = url.rsplit("/", 1)
    wrong = [
        f"{prefix}/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}",  # one character off
        f"{prefix}/",
        f"{prefix}/{media_domain.url_token(live.settings, other['sid'])}",  # another media's token
        f"{live.url}/media/ME{'0' * 32}/{media_domain.url_token(live.settings, 'ME' + '0' * 32)}",  # no such media
        f"{live.url}/media/not-a-sid/{token}",
    ]
    for bad in wrong:
        refused = requests.get(bad, timeout=10)
        assert refused.status_code == 404, bad
        if refused.content:
            assert refused.json()["status"] == 404


def test_multipart_uploads_as_clients_send_them(api: Api, service_sid: str) -> None:
    path = f"/v1/Services/{service_sid}/Media"
    # Go's CreateFormFile labels the part application/octet-stream and adds a FileName field (nyaruka/courier).
    courier = api.post(
        path, files={"Media": ("car.jpg", JPEG, "application/octet-stream")}, data={"FileName": "car.jpg"}
    )
    assert courier.status_code == 201, courier.text
    assert courier.json()["content_type"] == "image/jpeg"
    assert courier.json()["filename"] == "car.jpg"

    browser = api.post(path, files={"file": ("scans/2024/report.pdf", b"%PDF-1.7 ...", "application/pdf")})
    assert browser.status_code == 201, browser.text
    assert browser.json()["content_type"] == "application/pdf"
    assert browser.json()["filename"] == "report.pdf"

    only_part = api.post(path, files={"attachment": ("a.png", PNG, "image/png")}, data={"Author": "agent-alice"})
    assert only_part.status_code == 201, only_part.text
    assert only_part.json()["author"] == "agent-alice"
    content = api.get(f"{path}/{only_part.json()['sid']}/Content")
    assert content.content == PNG


def test_filename_from_content_disposition_and_author_from_the_query(api: Api, service_sid: str) -> None:
    response = api.post(
        f"/v1/Services/{service_sid}/Media",
        data=b"BEGIN:VCARD\r\nEND:VCARD\r\n",
        params={"Author": "+14155550123"},
        headers={"Content-Type": "text/vcard; charset=UTF-8", "Content-Disposition": 'attachment; filename="me.vcf"'},
    )
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "me.vcf"
    assert response.json()["content_type"] == "text/vcard; charset=utf-8"
    assert response.json()["author"] == "+14155550123"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"content_type": None}, "Content-Type"),
        ({"content_type": "application/x-www-form-urlencoded"}, "MIME type"),
        ({"content_type": "image"}, "not a valid media type"),
        ({"content_type": "image/png", "data": b""}, "empty"),
        ({"content_type": "image/png", "Filename": "x" * 257}, "Filename"),
        ({"content_type": "image/png", "Filename": "a\x01b.png"}, "control characters"),
        ({"content_type": "image/png", "Author": "a" * 257}, "Author"),
    ],
)
def test_bad_uploads_get_a_twilio_400(api: Api, service_sid: str, kwargs: dict[str, Any], fragment: str) -> None:
    response = upload(api, service_sid, **kwargs)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 20001
    assert fragment in response.json()["message"]


def test_a_multipart_upload_without_a_file_is_a_400(api: Api, service_sid: str) -> None:
    response = api.post(f"/v1/Services/{service_sid}/Media", files={"FileName": (None, "x.png")}, data={"Author": "me"})
    assert response.status_code == 400
    assert "file" in response.json()["message"]


def test_uploads_may_exceed_the_app_wide_request_cap_but_not_the_media_cap(
    api: Api, live: LiveBridge, service_sid: str
) -> None:
    assert live.settings.max_request_bytes == 1_048_576
    large = b"\x00" * (3 * 1024 * 1024)
    media = uploaded(api, service_sid, large, "video/mp4")
    assert media["size"] == len(large)
    assert api.get(f"/v1/Services/{service_sid}/Media/{media['sid']}/Content").content == large

    too_large = upload(api, service_sid, b"\x00" * (live.settings.media_max_bytes + 1), "video/mp4")
    assert too_large.status_code == 413
    assert too_large.json()["code"] == 20001 and str(live.settings.media_max_bytes) in too_large.json()["message"]

    # Every other route keeps the app-wide cap.
    elsewhere = api.post("/v1/Conversations", data={"FriendlyName": "x" * (2 * 1024 * 1024)})
    assert elsewhere.status_code == 413


def test_media_routes_need_credentials(api: Api, live: LiveBridge, service_sid: str) -> None:
    media = uploaded(api, service_sid)
    anonymous = requests.Session()
    base = f"{live.url}/v1/Services/{service_sid}/Media"
    for response in (
        anonymous.post(base, data=PNG, headers={"Content-Type": "image/png"}, timeout=10),
        anonymous.get(f"{base}/{media['sid']}", timeout=10),
        anonymous.get(f"{base}/{media['sid']}/Content", timeout=10),
        anonymous.get(f"{base}/{media['sid']}/Content", auth=(live.account_sid, "wrong-token"), timeout=10),
    ):
        assert response.status_code == 401
        assert response.json()["code"] == 20003


def test_unknown_media_and_services_are_404(api: Api, service_sid: str) -> None:
    missing = "ME" + "0" * 32
    for path in (
        f"/v1/Services/{service_sid}/Media/{missing}",
        f"/v1/Services/{service_sid}/Media/{missing}/Content",
        f"/v1/Services/{service_sid}/Media/not-a-sid",
        f"/v1/Services/IS{'0' * 32}/Media/{missing}",
    ):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == 20404
    assert upload(api, "IS" + "0" * 32).status_code == 404


def test_another_services_media_does_not_exist(api: Api, service_sid: str) -> None:
    other_service = api.post("/v1/Services", data={"FriendlyName": "other"}).json()["sid"]
    media = uploaded(api, service_sid)
    assert api.get(f"/v1/Services/{other_service}/Media/{media['sid']}").status_code == 404
    assert api.get(f"/v1/Services/{other_service}/Media/{media['sid']}/Content").status_code == 404

    conversation = new_conversation(api, f"/v1/Services/{other_service}")
    response = api.post(
        f"/v1/Services/{other_service}/Conversations/{conversation}/Messages", data={"MediaSid": media["sid"]}
    )
    assert response.status_code == 400
    assert "not found" in response.json()["message"]


# --- MediaSid on messages ------------------------------------------------------------------------------------


def test_media_sid_attaches_the_media_to_a_new_message(api: Api, client: Client, service_sid: str) -> None:
    media = uploaded(api, service_sid, JPEG, "image/jpeg", Filename="car.jpg")
    conversation = client.conversations.v1.conversations.create(friendly_name="with media")
    message = conversation.messages.create(author="agent-alice", media_sid=media["sid"])
    assert message.body is None
    assert message.media == [
        {
            "sid": media["sid"],
            "size": len(JPEG),
            "content_type": "image/jpeg",
            "filename": "car.jpg",
            "category": "media",
        }
    ]
    fetched = client.conversations.v1.conversations(conversation.sid).messages(message.sid).fetch()
    assert fetched.media == message.media

    now = api.get(f"/v1/Services/{service_sid}/Media/{media['sid']}").json()
    assert now["message_sid"] == message.sid
    assert now["channel_sid"] == conversation.sid

    # A media belongs to one message.
    again = api.post(f"/v1/Conversations/{conversation.sid}/Messages", data={"MediaSid": media["sid"], "Body": "x"})
    assert again.status_code == 400
    assert "already attached" in again.json()["message"]


def test_media_sid_with_a_body_and_the_service_scoped_path(api: Api, service_sid: str) -> None:
    media = uploaded(api, service_sid)
    conversation = new_conversation(api, f"/v1/Services/{service_sid}")
    response = api.post(
        f"/v1/Services/{service_sid}/Conversations/{conversation}/Messages",
        data={"MediaSid": media["sid"], "Body": "see attached"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["body"] == "see attached"
    assert [item["sid"] for item in response.json()["media"]] == [media["sid"]]


@pytest.mark.parametrize(
    ("media_sid", "fragment"),
    [("ME" + "0" * 32, "not found"), ("not-a-sid", "not a Media SID"), ("IM" + "0" * 32, "not a Media SID")],
)
def test_bad_media_sids_are_refused_and_nothing_is_written(api: Api, media_sid: str, fragment: str) -> None:
    conversation = new_conversation(api)
    response = api.post(f"/v1/Conversations/{conversation}/Messages", data={"MediaSid": media_sid, "Body": "x"})
    assert response.status_code == 400
    assert fragment in response.json()["message"]
    listed = api.get(f"/v1/Conversations/{conversation}/Messages").json()["messages"]
    assert listed == []


def test_a_content_sid_makes_the_media_sid_ignored(api: Api, service_sid: str) -> None:
    media = uploaded(api, service_sid)
    conversation = new_conversation(api)
    response = api.post(
        f"/v1/Conversations/{conversation}/Messages",
        data={"MediaSid": media["sid"], "ContentSid": "HX" + "1" * 32},
    )
    assert response.status_code == 201, response.text
    assert response.json()["media"] is None
    assert api.get(f"/v1/Services/{service_sid}/Media/{media['sid']}").json()["message_sid"] is None


def test_two_messages_racing_for_one_media_attach_it_once(api: Api, service_sid: str) -> None:
    media = uploaded(api, service_sid)
    conversations = [new_conversation(api), new_conversation(api)]
    statuses: list[int] = []
    start = threading.Barrier(len(conversations))

    def send(conversation: str) -> None:
        start.wait()
        response = api.http.post(
            f"{api.base}/v1/Conversations/{conversation}/Messages", data={"MediaSid": media["sid"]}, timeout=30
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send, args=(sid,)) for sid in conversations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201, 400]
    messages = [api.get(f"/v1/Conversations/{sid}/Messages").json()["messages"] for sid in conversations]
    assert sorted(len(listed) for listed in messages) == [0, 1]


# --- inbound media: pending, then fetched and stored (the worker's part is the other module's) --------------


def _inbound_message(api: Api) -> tuple[str, str]:
    conversation = new_conversation(api)
    message = api.post(f"/v1/Conversations/{conversation}/Messages", data={"Author": "+14155550123", "Body": "pic"})
    return conversation, str(message.json()["sid"])


def test_pending_inbound_media_is_listed_but_not_served_until_stored(
    api: Api, live: LiveBridge, service_sid: str
) -> None:
    from bridge.models import ConversationService, Message

    _conversation, message_sid = _inbound_message(api)
    carrier_url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM0/Media/ME-carrier-secret"
    with live.database.transaction() as session:
        service = session.scalar(select(ConversationService).where(ConversationService.sid == service_sid))
        message = session.scalar(select(Message).where(Message.sid == message_sid))
        assert service is not None and message is not None
        pending = media_domain.add_pending_inbound(session, service, message, carrier_url, "image/JPEG")
        message.media = media_domain.message_media([pending])
        sid = pending.sid
    public = media_domain.public_url(live.settings, sid)

    shown = api.get(f"/v1/Services/{service_sid}/Media/{sid}")
    assert shown.status_code == 200
    assert shown.json()["size"] is None and shown.json()["content_type"] == "image/jpeg"
    assert shown.json()["message_sid"] == message_sid
    assert shown.json()["links"]["content_direct_temporary"] is None
    assert "carrier-secret" not in shown.text
    assert api.get(f"/v1/Services/{service_sid}/Media/{sid}/Content").status_code == 404
    assert requests.get(public, timeout=10).status_code == 404

    with live.database.transaction() as session:
        row = session.scalar(select(Media).where(Media.sid == sid))
        assert row is not None
        media_domain.record_fetch_retry(session, row, "HTTP 503")
        media_domain.store_fetched(session, build_store(live.settings), row, JPEG, "image/jpeg; charset=binary")
        media_domain.store_fetched(session, build_store(live.settings), row, b"a duplicated task", "text/plain")
    served = requests.get(public, timeout=10)
    assert served.status_code == 200 and served.content == JPEG
    assert served.headers["Content-Type"] == "image/jpeg; charset=binary"
    message_json = api.get(f"/v1/Conversations/{_conversation}/Messages/{message_sid}").json()
    assert message_json["media"][0]["size"] == len(JPEG)
    with live.database.transaction() as session:
        row = session.scalar(select(Media).where(Media.sid == sid))
        assert row is not None and row.fetch_attempts == 2 and row.error is None and row.status == "ready"


def test_failed_inbound_media_is_never_served(api: Api, live: LiveBridge, service_sid: str) -> None:
    from bridge.models import ConversationService, Message

    _conversation, message_sid = _inbound_message(api)
    with live.database.transaction() as session:
        service = session.scalar(select(ConversationService).where(ConversationService.sid == service_sid))
        message = session.scalar(select(Message).where(Message.sid == message_sid))
        assert service is not None and message is not None
        pending = media_domain.add_pending_inbound(session, service, message, "https://carrier.example/m", None)
        assert pending.content_type == "application/octet-stream"
        media_domain.mark_failed(session, pending, "HTTP 404 from the carrier")
        sid = pending.sid
    assert api.get(f"/v1/Services/{service_sid}/Media/{sid}/Content").status_code == 404
    assert requests.get(media_domain.public_url(live.settings, sid), timeout=10).status_code == 404


def test_pending_rows_made_before_their_message_are_linked_to_it(api: Api, live: LiveBridge, service_sid: str) -> None:
    from bridge.models import ConversationService, Message

    _conversation, message_sid = _inbound_message(api)
    with live.database.transaction() as session:
        service = session.scalar(select(ConversationService).where(ConversationService.sid == service_sid))
        assert service is not None
        long_type = "image/" + "x" * 200  # the carrier's label does not fit: kept as a generic type
        rows = [
            media_domain.add_pending_inbound(session, service, None, f"https://carrier.example/m{n}", long_type)
            for n in range(2)
        ]
        assert {row.content_type for row in rows} == {"application/octet-stream"}
        message = session.scalar(select(Message).where(Message.sid == message_sid))
        assert message is not None
        media_domain.attach_to_message(session, rows, message)
        sids = [row.sid for row in rows]
    for sid in sids:
        assert api.get(f"/v1/Services/{service_sid}/Media/{sid}").json()["message_sid"] == message_sid


def test_carrier_media_fetched_through_a_redirect_is_stored_and_served(
    api: Api, live: LiveBridge, service_sid: str
) -> None:
    """The inbound path minus the worker: a pending row, the SSRF-safe fetch (Basic auth to the carrier only,
    then a redirect to its storage host), store_fetched, and the public URL a carrier or recipient would use."""
    from bridge.models import ConversationService, Message

    carrier = MediaHost()
    try:
        carrier.route("/2010-04-01/Media/ME1", redirect(carrier.url("/storage/ME1", host="localhost"), 307))
        carrier.route("/storage/ME1", body(JPEG, "image/jpeg"))
        _conversation, message_sid = _inbound_message(api)
        with live.database.transaction() as session:
            service = session.scalar(select(ConversationService).where(ConversationService.sid == service_sid))
            message = session.scalar(select(Message).where(Message.sid == message_sid))
            assert service is not None and message is not None
            url = carrier.url("/2010-04-01/Media/ME1")
            sid = media_domain.add_pending_inbound(session, service, message, url, "image/jpeg").sid

        with live.database.transaction() as session:
            row = session.scalar(select(Media).where(Media.sid == sid))
            assert row is not None and row.carrier_url is not None
            fetched = fetch(
                row.carrier_url,
                auth=("AC" + "fa" * 16, "carrier-token"),
                max_bytes=live.settings.media_max_bytes,
                timeout=live.settings.fetch_timeout,
                allow_private=True,  # the fake carrier is on loopback
            )
            media_domain.store_fetched(session, build_store(live.settings), row, fetched.data, fetched.content_type)
        served = requests.get(media_domain.public_url(live.settings, sid), timeout=10)
        assert served.status_code == 200 and served.content == JPEG
        assert [seen.authorization is not None for seen in carrier.seen] == [True, False]
    finally:
        carrier.stop()


def test_database_store_round_trip_and_delete(live: LiveBridge, api: Api, service_sid: str) -> None:
    media = uploaded(api, service_sid)
    store = DatabaseStore()
    with live.database.transaction() as session:
        row = session.scalar(select(Media).where(Media.sid == media["sid"]))
        assert row is not None and row.storage == "database"
        assert store.read(session, row) == PNG
        store.delete(session, row)
        with pytest.raises(MediaStorageError):
            store.read(session, row)
        assert session.get(MediaContent, row.id) is None


# --- S3-compatible storage -----------------------------------------------------------------------------------

BUCKET = "bridge-media"
S3_PREFIX = "media/"
S3_MAX_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    s3_client(url).create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def s3_bridge(bridge: LiveBridge, s3_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBridge]:
    """A second bridge on the same database whose media goes to the S3 server, with a small media cap."""
    from webhooks import create_app

    port = free_port()
    environment = {
        **bridge.environment,
        "BRIDGE_INSTANCE_DIR": str(tmp_path_factory.mktemp("s3-instance")),
        "PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "BRIDGE_S3_BUCKET": BUCKET,
        "BRIDGE_S3_ENDPOINT_URL": s3_server,
        "BRIDGE_S3_REGION": "us-east-1",
        "BRIDGE_S3_PREFIX": S3_PREFIX,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "BRIDGE_MEDIA_MAX_BYTES": str(S3_MAX_BYTES),
    }
    second = start_live_bridge(Settings.from_env(environment), create_app)
    yield second
    second.stop()


@pytest.fixture
def s3_api(s3_bridge: LiveBridge) -> Iterator[Api]:
    s3_bridge.checker.take()
    yield Api(s3_bridge)
    problems = s3_bridge.checker.take()
    assert not problems, "responses that break the spec:\n" + "\n".join(problems)


def test_settings_read_the_s3_environment(s3_bridge: LiveBridge, s3_server: str) -> None:
    settings = s3_bridge.settings
    assert (settings.s3_bucket, settings.s3_endpoint_url, settings.s3_prefix) == (BUCKET, s3_server, S3_PREFIX)
    assert settings.media_max_bytes == S3_MAX_BYTES
    assert (settings.s3_access_key_id, settings.s3_secret_access_key) == ("testing", "testing")
    assert "s3_secret_access_key" not in repr(settings)  # kept out of logs and tracebacks


def test_uploads_go_to_the_bucket_and_come_back(
    s3_api: Api, s3_bridge: LiveBridge, s3_server: str, service_sid: str
) -> None:
    media = uploaded(s3_api, service_sid, JPEG, "image/jpeg", Filename="s3.jpg")
    stored = s3_client(s3_server).get_object(Bucket=BUCKET, Key=f"{S3_PREFIX}{media['sid']}")
    assert stored["Body"].read() == JPEG
    assert stored["ContentType"] == "image/jpeg"
    with s3_bridge.database.transaction() as session:
        row = session.scalar(select(Media).where(Media.sid == media["sid"]))
        assert row is not None and (row.storage, row.storage_key) == ("s3", f"{S3_PREFIX}{media['sid']}")
        assert session.get(MediaContent, row.id) is None  # nothing in the database

    assert s3_api.get(f"/v1/Services/{service_sid}/Media/{media['sid']}/Content").content == JPEG
    public = requests.get(media["links"]["content_direct_temporary"], timeout=10)
    assert public.status_code == 200 and public.content == JPEG


def test_media_stored_in_the_database_stays_readable_after_switching_to_s3(
    api: Api, s3_api: Api, service_sid: str
) -> None:
    before = uploaded(api, service_sid, PNG)  # the first bridge: database storage
    assert s3_api.get(f"/v1/Services/{service_sid}/Media/{before['sid']}/Content").content == PNG


def test_the_media_cap_follows_the_setting(s3_api: Api, service_sid: str) -> None:
    assert upload(s3_api, service_sid, b"x" * S3_MAX_BYTES, "application/pdf").status_code == 201
    refused = upload(s3_api, service_sid, b"x" * (S3_MAX_BYTES + 1), "application/pdf")
    assert refused.status_code == 413 and str(S3_MAX_BYTES) in refused.json()["message"]
    multipart = s3_api.post(
        f"/v1/Services/{service_sid}/Media", files={"file": ("big.pdf", b"x" * (S3_MAX_BYTES + 1), "application/pdf")}
    )
    assert multipart.status_code == 413


def test_chunked_uploads_without_a_length_are_capped_too(s3_api: Api, service_sid: str) -> None:
    def chunked(total: int) -> Iterator[bytes]:  # a generator body: requests sends it chunked, no length
        sent = 0
        while sent < total:
            piece = min(4096, total - sent)
            sent += piece
            yield b"c" * piece

    path = f"/v1/Services/{service_sid}/Media"
    exact = s3_api.post(path, data=chunked(S3_MAX_BYTES), headers={"Content-Type": "audio/mpeg"})
    assert exact.status_code == 201, exact.text
    assert exact.json()["size"] == S3_MAX_BYTES
    over = s3_api.post(path, data=chunked(S3_MAX_BYTES * 4), headers={"Content-Type": "audio/mpeg"})
    assert over.status_code == 413


def test_s3_store_round_trip_and_delete(s3_bridge: LiveBridge, s3_server: str, s3_api: Api, service_sid: str) -> None:
    media = uploaded(s3_api, service_sid, PNG)
    store = S3Store.from_settings(s3_bridge.settings)
    with s3_bridge.database.transaction() as session:
        row = session.scalar(select(Media).where(Media.sid == media["sid"]))
        assert row is not None
        assert store.read(session, row) == PNG
        store.delete(session, row)
        with pytest.raises(MediaStorageError):
            store.read(session, row)
    listed = s3_client(s3_server).list_objects_v2(Bucket=BUCKET, Prefix=f"{S3_PREFIX}{media['sid']}")
    assert listed.get("KeyCount", 0) == 0


def test_s3_down_is_a_503_and_nothing_is_kept(s3_api: Api, s3_server: str, service_sid: str) -> None:
    client = s3_client(s3_server)
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)
    try:
        response = upload(s3_api, service_sid, PNG)
        assert response.status_code == 503
        assert response.json()["code"] == 20503
    finally:
        client.create_bucket(Bucket=BUCKET)
    with_rows = s3_api.get(f"/v1/Services/{service_sid}/Media/ME{'0' * 32}")
    assert with_rows.status_code == 404
