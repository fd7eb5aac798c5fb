"""What each channel receives, rule by rule (pure rendering, no I/O)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from bridge import opt_outs
from bridge.translate import MMS_MAX_BYTES, MediaItem, RenderRequest, render

URL = "https://bridge.example/media/{}/token"


def media_url(sid: str) -> str:
    return URL.format(sid)


def request(**overrides: object) -> RenderRequest:
    base: dict[str, object] = {
        "reference": "DY" + "0" * 32,
        "channel": "sms",
        "address": "+14155550100",
        "proxy_address": "+12015550100",
        "status_callback": "https://bridge.example/webhooks/twilio/status/DY",
        "body": "hello",
    }
    base.update(overrides)
    return RenderRequest(**base)  # type: ignore[arg-type]


def png(n: int, size: int = 1000) -> MediaItem:
    return MediaItem(f"ME{n:032d}", "image/png", size)


def test_from_is_the_proxy_and_to_is_the_recipient() -> None:
    (send,) = render(request(), media_url).sends
    assert (send.from_address, send.to_address, send.body) == ("+12015550100", "+14155550100", "hello")
    assert send.status_callback and send.reference


def test_a_template_goes_out_alone_on_any_channel() -> None:
    for channel, address in (("sms", "+14155550100"), ("whatsapp", "whatsapp:+14155550100")):
        rendering = render(
            request(channel=channel, address=address, content_sid="HX1", content_variables="{}", window_open=False),
            media_url,
        )
        (send,) = rendering.sends
        assert (send.content_sid, send.content_variables, send.body, send.media_urls) == ("HX1", "{}", None, [])


def test_whatsapp_free_text_outside_the_window_is_blocked_with_63016() -> None:
    rendering = render(request(channel="whatsapp", address="whatsapp:+14155550100", window_open=False), media_url)
    assert rendering.sends == [] and rendering.blocked is not None and rendering.blocked[0] == 63016


def test_us_and_canadian_numbers_get_mms_others_get_links() -> None:
    for address in ("+14155550100", "+16135550123"):  # US, Canada
        (send,) = render(request(address=address, media=[png(1)]), media_url).sends
        assert send.media_urls == [media_url(png(1).sid)] and send.body == "hello"
    for address in ("+447700900123", "+18765550123"):  # UK; Jamaica shares +1 but is not US/CA
        (send,) = render(request(address=address, media=[png(1)]), media_url).sends
        assert send.media_urls == [] and send.body == f"hello\n{media_url(png(1).sid)}"


def test_mms_limits_overflow_into_links() -> None:
    eleven = [png(n) for n in range(11)]
    (send,) = render(request(media=eleven), media_url).sends
    assert len(send.media_urls) == 10 and send.body is not None and send.body.endswith(media_url(eleven[10].sid))
    big = [png(1, MMS_MAX_BYTES - 10), png(2, 100)]
    (send,) = render(request(media=big), media_url).sends
    assert send.media_urls == [media_url(big[0].sid)] and media_url(big[1].sid) in (send.body or "")
    zip_file = MediaItem("ME" + "9" * 32, "application/zip", 10)
    (send,) = render(request(media=[zip_file]), media_url).sends
    assert send.media_urls == [] and media_url(zip_file.sid) in (send.body or "")


def test_long_text_with_media_sends_the_media_with_the_first_part() -> None:
    text = "word " * 500  # 2,500 characters
    rendering = render(request(body=text, media=[png(1)]), media_url)
    assert len(rendering.sends) == 2
    assert rendering.sends[0].media_urls and not rendering.sends[1].media_urls
    assert "".join(s.body or "" for s in rendering.sends) == text
    assert rendering.encoding == "GSM-7" and rendering.segments


def test_whatsapp_sends_one_media_each_and_links_what_is_too_big() -> None:
    huge = MediaItem("ME" + "8" * 32, "video/mp4", 17 * 1024 * 1024)
    rendering = render(
        request(channel="whatsapp", address="whatsapp:+14155550100", media=[png(1), png(2), huge]), media_url
    )
    assert [(s.body is not None, len(s.media_urls)) for s in rendering.sends] == [(True, 1), (False, 1)]
    assert rendering.sends[0].body == f"hello\n{media_url(huge.sid)}"
    assert rendering.encoding is None


def test_attribution_prefixes_the_text_or_stands_alone() -> None:
    (send,) = render(request(author_name="Alice"), media_url).sends
    assert send.body == "Alice: hello"
    (send,) = render(request(author_name="Alice", body=None, media=[png(1)]), media_url).sends
    assert send.body == "Alice:" and send.media_urls


def test_smart_encoding_only_when_asked() -> None:
    plain = render(request(body="it’s"), media_url)  # noqa: RUF001 - the look-alike is the point
    smart = render(request(body="it’s", smart_encoding=True), media_url)  # noqa: RUF001
    assert (plain.encoding, plain.sends[0].body) == ("UCS-2", "it’s")  # noqa: RUF001
    assert (smart.encoding, smart.sends[0].body) == ("GSM-7", "it's")


KEYWORDS = sorted(opt_outs.OPT_OUT_WORDS | opt_outs.OPT_IN_WORDS | opt_outs.HELP_WORDS)


@given(
    st.sampled_from(KEYWORDS),
    st.text(alphabet=" \t\n", max_size=3),
    st.text(alphabet=" \t\n", max_size=3),
    st.randoms(),
)
def test_keywords_match_whatever_the_case_and_surrounding_space(
    word: str, before: str, after: str, rng: random.Random
) -> None:
    mixed = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in word)
    found = opt_outs.classify(before + mixed + after)
    assert found is not None and found[1] == word


@given(st.sampled_from(KEYWORDS), st.text(min_size=1, max_size=12).filter(lambda t: t.strip() != ""))
def test_a_keyword_inside_a_sentence_is_not_a_keyword(word: str, extra: str) -> None:
    sentence = f"{word} {extra}"
    if sentence.upper().split() == ["STOP", "ALL"]:
        return  # "STOP ALL" is itself a keyword
    assert opt_outs.classify(sentence) is None or sentence.strip().upper() in KEYWORDS
