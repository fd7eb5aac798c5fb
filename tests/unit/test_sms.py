"""SMS encoding, segmentation, body splitting and smart encoding (bridge/sms.py).

Oracles are independent of the module where possible: septets by re-encoding with the gsm0338 codec, code units by
encoding as UTF-16, and segment counts cross-checked against smsutil.
"""

from __future__ import annotations

import itertools
import string

import gsm0338
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.sms import (
    GSM7,
    GSM7_BASIC,
    GSM7_CHARACTERS,
    GSM7_EXTENSION,
    MAX_BODY,
    PART_LIMITS,
    SINGLE_LIMITS,
    SMART_ENCODING_TABLE,
    UCS2,
    SmsPlan,
    encoding_of,
    plan,
    segment_count,
    segments,
    smart_encode,
    split_body,
    transliterate,
    units,
)

CODEC = gsm0338.Codec()
EURO = "\u20ac"
EMOJI = "\U0001f600"  # grinning face: a surrogate pair in UTF-16
C_CEDILLA_SMALL = "\u00e7"  # not GSM-7 (only the capital is)
C_CEDILLA_CAPITAL = "\u00c7"
LEFT_DOUBLE_QUOTE, RIGHT_DOUBLE_QUOTE = "\u201c", "\u201d"
LEFT_SINGLE_QUOTE, RIGHT_SINGLE_QUOTE = "\u2018", "\u2019"
EN_DASH, EM_DASH, ELLIPSIS, NO_BREAK_SPACE = "\u2013", "\u2014", "\u2026", "\u00a0"
ZERO_WIDTH_JOINER = "\u200d"

# The extension table and the basic table's non-ASCII characters as engineering notes §4.1 lists them.
NOTES_EXTENSION = set("^{}\\[~]|\u20ac\x0c")
NOTES_BASIC_NON_ASCII = set(
    "\u00a3\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\u00d8\u00f8\u00c5\u00e5\u0394\u03a6\u0393\u039b\u03a9\u03a0"
    "\u03a8\u03a3\u0398\u039e\u00c6\u00e6\u00df\u00c9\u00c4\u00d6\u00d1\u00dc\u00a7\u00bf\u00e4\u00f6\u00f1\u00fc"
    "\u00e0\u00a1\u00a4"
)

SETTINGS = settings(max_examples=60, deadline=None)

gsm_basic_chars = st.sampled_from(sorted(GSM7_BASIC))
gsm_extension_chars = st.sampled_from(sorted(GSM7_EXTENSION))
awkward_chars = st.sampled_from(
    [C_CEDILLA_SMALL, "`", EMOJI, "\u4e2d", "\x1b", NO_BREAK_SPACE, LEFT_DOUBLE_QUOTE, "\u0301", "\U0001f1eb"]
)


def short_or_long(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Texts around the single-segment limits and past them: left alone, Hypothesis mostly draws a few characters."""
    return st.one_of(st.text(alphabet, max_size=40), st.text(alphabet, min_size=120, max_size=420))


gsm_texts = short_or_long(st.one_of(gsm_basic_chars, gsm_extension_chars))
# codec="utf-8": no lone surrogates, which a body decoded from UTF-8 cannot hold (see the surrogate-halves test below).
any_chars = st.characters(codec="utf-8")
mixed_texts = short_or_long(st.one_of(gsm_basic_chars, gsm_extension_chars, awkward_chars, any_chars))
# Mostly GSM with the odd non-GSM character, so that the UCS-2 cases are long enough to need several parts too.
mostly_gsm_texts = short_or_long(
    st.one_of(gsm_basic_chars, gsm_basic_chars, gsm_basic_chars, gsm_extension_chars, awkward_chars)
)
any_texts = st.one_of(gsm_texts, mixed_texts, mostly_gsm_texts)


def gsm_encodable(char: str) -> bool:
    """Independent of bridge.sms: the codec accepts it (ESC aside, which is the escape code, not a character)."""
    if char == "\x1b":
        return False
    try:
        CODEC.encode(char)
    except UnicodeEncodeError:
        return False
    return True


def septets(text: str) -> int:
    return len(CODEC.encode(text)[0])


def code_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def measured(text: str, encoding: str) -> int:
    return septets(text) if encoding == GSM7 else code_units(text)


# --- tables and encoding ------------------------------------------------------------------------------------------


def test_tables_match_the_gsm_03_38_character_set():
    assert GSM7_EXTENSION == NOTES_EXTENSION
    ascii_in_basic = set(string.printable) - set("[\\]^`{|}~") - {"\t", "\x0b", "\x0c"}
    assert ascii_in_basic <= GSM7_BASIC
    assert NOTES_BASIC_NON_ASCII <= GSM7_BASIC
    assert len(GSM7_BASIC) == 127  # 128 codes less the escape
    assert not GSM7_BASIC & GSM7_EXTENSION
    assert "`" not in GSM7_CHARACTERS
    assert C_CEDILLA_SMALL not in GSM7_CHARACTERS
    assert C_CEDILLA_CAPITAL in GSM7_CHARACTERS
    assert "\x1b" not in GSM7_CHARACTERS


@SETTINGS
@given(any_texts)
@example("`")
@example("\x1b")
@example(C_CEDILLA_SMALL)
@example(C_CEDILLA_CAPITAL)
def test_encoding_is_gsm7_exactly_when_every_character_is_encodable(text: str):
    assert (encoding_of(text) == GSM7) == all(gsm_encodable(char) for char in text)


@SETTINGS
@given(any_texts)
def test_units_agree_with_the_codec_and_utf16(text: str):
    assert units(text, UCS2) == code_units(text)
    if encoding_of(text) == GSM7:
        assert units(text, GSM7) == septets(text)
    else:
        with pytest.raises(ValueError):
            units(text, GSM7)


def test_extension_characters_count_two_septets():
    assert units(EURO + "a^", GSM7) == 5
    assert units(EMOJI + "a", UCS2) == 3
    with pytest.raises(ValueError):
        units("a", "UTF-8")


# --- segments ------------------------------------------------------------------------------------------------------


@SETTINGS
@given(any_texts)
def test_segments_join_to_the_text(text: str):
    assert "".join(segments(text)) == text
    assert segment_count(text) == len(segments(text))


@SETTINGS
@given(any_texts)
def test_every_segment_fits_its_limit_and_is_filled_greedily(text: str):
    encoding = encoding_of(text)
    parts = segments(text)
    assert all(parts)
    limit = SINGLE_LIMITS[encoding] if len(parts) == 1 else PART_LIMITS[encoding]
    assert all(measured(part, encoding) <= limit for part in parts)
    if len(parts) > 1:
        assert measured(text, encoding) > SINGLE_LIMITS[encoding]
        # A carrier starts a new part only when the next character does not fit.
        for part, following in itertools.pairwise(parts):
            assert measured(part + following[0], encoding) > limit


@SETTINGS
@given(any_texts)
def test_segments_never_split_an_escape_pair_or_a_surrogate_pair(text: str):
    parts = segments(text)
    if encoding_of(text) == GSM7:
        # Each extension character's ESC + code is inside one part: the parts' encodings add up to the whole's.
        assert sum(septets(part) for part in parts) == septets(text)
        for part in parts:
            assert not CODEC.encode(part)[0].endswith(b"\x1b")  # no part ends on a dangling escape
    else:
        for part in parts:
            part.encode("utf-16-le")  # strict: a lone surrogate would raise


def test_surrogate_halves_held_as_separate_code_points_stay_together():
    text = "\ud83d\ude00" * 70  # one emoji as two code points, as "surrogatepass" decoding leaves it
    parts = segments(text)
    assert [len(part) for part in parts] == [66, 66, 8]
    assert all(part.startswith("\ud83d") and part.endswith("\ude00") for part in parts)
    assert [len(part) for part in split_body(text, 5)] == [4] * 35


@SETTINGS
@given(st.text(st.one_of(st.characters(), st.sampled_from(["\ud83d", "\ude00", EMOJI])), max_size=300))
def test_lone_surrogates_count_one_unit_and_pairs_of_them_stay_together(text: str):
    # A body parsed from JSON ("\\ud83d") can hold surrogate halves as code points: no crash, and no new split.
    parts = segments(text)
    assert "".join(parts) == text
    limit = SINGLE_LIMITS[UCS2] if len(parts) == 1 else PART_LIMITS[UCS2]
    if encoding_of(text) == UCS2:
        assert all(code_units(part) <= limit for part in parts)
    for part, following in itertools.pairwise(parts):
        assert not ("\ud800" <= part[-1] <= "\udbff" and "\udc00" <= following[0] <= "\udfff")


@pytest.mark.parametrize(
    ("text", "encoding", "part_lengths"),
    [
        (EURO * 81, GSM7, [76, 5]),  # not 80 + 1: an escape pair is not split
        (EMOJI * 70, UCS2, [33, 33, 4]),  # 66 units per part: a surrogate pair is not split
        (C_CEDILLA_SMALL * 160, UCS2, [67, 67, 26]),  # one non-GSM character makes the whole message UCS-2
        ("a" * 160, GSM7, [160]),
        ("a" * 161, GSM7, [153, 8]),
        ("\u00e9" * 160, GSM7, [160]),  # é is in the basic table
        ("\u4e2d" * 70, UCS2, [70]),
        ("\u4e2d" * 71, UCS2, [67, 4]),
        ("a" * 159 + EURO, GSM7, [153, 7]),  # 161 septets
        ("a" * 158 + EURO, GSM7, [159]),  # exactly 160 septets
        ("a" * 69 + "`", UCS2, [70]),  # the backtick forces UCS-2
        ("", GSM7, []),
    ],
)
def test_known_segmentations(text: str, encoding: str, part_lengths: list[int]):
    assert encoding_of(text) == encoding
    assert [len(part) for part in segments(text)] == part_lengths


@SETTINGS
@given(st.one_of(gsm_texts, mixed_texts, mostly_gsm_texts).filter(lambda text: text and "\x1b" not in text))
def test_segment_counts_agree_with_smsutil(text: str):
    smsutil = pytest.importorskip("smsutil")
    theirs = smsutil.split(text)  # smsutil counts ESC as GSM; the bridge does not, hence the filter
    assert (theirs.encoding == "gsm0338") == (encoding_of(text) == GSM7)
    assert [part.content for part in theirs.parts] == segments(text)


# --- bodies --------------------------------------------------------------------------------------------------------

words = st.text(st.sampled_from("abcdef\u00e9" + EMOJI + EURO), min_size=1, max_size=40)
spaces = st.text(st.sampled_from(" \n\t"), min_size=1, max_size=3)
prose = st.lists(st.tuples(words, spaces), max_size=80).map(lambda pairs: "".join(w + s for w, s in pairs))
limits = st.integers(min_value=2, max_value=120)


@SETTINGS
@given(st.one_of(prose, any_texts), limits)
def test_split_body_parts_fit_and_join_to_the_text(text: str, limit: int):
    parts = split_body(text, limit)
    assert "".join(parts) == text
    assert all(parts)
    assert all(code_units(part) <= limit for part in parts)
    for part in parts:
        part.encode("utf-16-le")  # strict: no surrogate pair cut in half


@SETTINGS
@given(prose, limits)
def test_split_body_cuts_at_whitespace_unless_a_word_is_too_long(text: str, limit: int):
    parts = split_body(text, limit)
    at_word_boundary = [part[-1].isspace() or following[0].isspace() for part, following in itertools.pairwise(parts)]
    for part, boundary in zip(parts, at_word_boundary, strict=False):
        # Either the cut is next to whitespace, or the part is a piece of one overlong word.
        assert boundary or not any(char.isspace() for char in part)
    longest_word = max((code_units(word) for word in text.split()), default=0)
    if longest_word <= limit:
        assert all(at_word_boundary)


def test_split_body_is_greedy_and_keeps_whitespace():
    assert split_body("aa bb cc", 6) == ["aa bb ", "cc"]
    assert split_body("aa  bb", 3) == ["aa ", " bb"]  # the run of spaces is cut, nothing dropped
    assert split_body("abcdefgh", 3) == ["abc", "def", "gh"]  # one overlong word: hard split
    assert split_body("ab cde fg", 6) == ["ab cde", " fg"]  # a word ending at the limit: cut before the space
    assert split_body("xx ab\u00a0cd", 6) == ["xx ", "ab\u00a0cd"]  # a no-break space is not a word boundary
    assert split_body("short", 10) == ["short"]
    assert split_body("", 10) == []
    with pytest.raises(ValueError):
        split_body("abc", 1)


def test_hard_splits_keep_combining_sequences_and_emoji_together():
    accented = "e\u0301" * 20  # e + combining acute accent
    assert all(part[0] == "e" for part in split_body(accented, 5))
    family = ZERO_WIDTH_JOINER.join(["\U0001f468", "\U0001f469", "\U0001f467"])  # 8 units
    assert split_body(family * 4, 20) == [family * 2, family * 2]
    flags = "\U0001f1eb\U0001f1f7" * 5  # French flags, 4 units each
    assert split_body(flags, 10) == ["\U0001f1eb\U0001f1f7" * 2] * 2 + ["\U0001f1eb\U0001f1f7"]


def test_body_limit_counts_utf16_code_units():
    assert [len(part) for part in split_body(EMOJI * 1000)] == [800, 200]  # 2,000 units
    assert split_body(EMOJI * 800) == [EMOJI * 800]  # exactly 1,600 units


@pytest.mark.parametrize(
    "text",
    ["x" * 2000, "word " * 400, ("lorem ipsum dolor sit amet " * 80)[:2000]],
    ids=["one-long-word", "words", "prose"],
)
def test_a_2000_character_body_goes_out_as_two_sends(text: str):
    assert len(text) == 2000
    parts = split_body(text)
    assert len(parts) == 2
    assert all(len(part) <= MAX_BODY for part in parts)
    assert "".join(parts) == text


# --- smart encoding ------------------------------------------------------------------------------------------------


def test_smart_encoding_table_maps_only_non_gsm_characters_to_gsm_text():
    assert all(chr(code) not in GSM7_CHARACTERS for code in SMART_ENCODING_TABLE)
    assert all(encoding_of(replacement) == GSM7 for replacement in SMART_ENCODING_TABLE.values())


def test_smart_encode_replaces_typical_look_alikes():
    text = f"{LEFT_DOUBLE_QUOTE}Hi{RIGHT_DOUBLE_QUOTE} {EM_DASH} it{RIGHT_SINGLE_QUOTE}s 9{EN_DASH}5{ELLIPSIS}"
    assert smart_encode(text) == '"Hi" - it\'s 9-5...'
    assert smart_encode(f"a{NO_BREAK_SPACE}b\u2009c\u2022d\u2032e`f") == "a b c-d'e'f"
    assert smart_encode("\uff21\uff42") == "\uff21\uff42"  # fullwidth lowercase is not in the list: all stays
    assert smart_encode("\uff21\uff22\uff11") == "AB1"


def test_smart_encode_is_all_or_nothing():
    # An emoji keeps the message UCS-2 anyway: leave the text as written.
    text = f"{LEFT_DOUBLE_QUOTE}Hi{RIGHT_DOUBLE_QUOTE} {EMOJI}"
    assert smart_encode(text) == text
    assert transliterate(text) == f'"Hi" {EMOJI}'


def test_smart_encode_does_not_cost_more_segments():
    ellipses = ELLIPSIS * 70  # one UCS-2 segment; as "..." 210 septets, two GSM-7 segments
    assert smart_encode(ellipses) == ellipses
    assert smart_encode(ELLIPSIS * 10) == "." * 30


typical_look_alikes = st.sampled_from(
    [LEFT_DOUBLE_QUOTE, RIGHT_DOUBLE_QUOTE, LEFT_SINGLE_QUOTE, RIGHT_SINGLE_QUOTE, EN_DASH, EM_DASH, NO_BREAK_SPACE]
)


@SETTINGS
@given(short_or_long(st.one_of(gsm_basic_chars, gsm_extension_chars, typical_look_alikes)))
def test_smart_encode_makes_curly_quote_text_gsm7(text: str):
    encoded = smart_encode(text)
    assert encoding_of(encoded) == GSM7
    assert len(encoded) == len(text)  # one-for-one replacements
    assert segment_count(encoded) <= segment_count(text)


@SETTINGS
@given(gsm_texts)
def test_smart_encode_never_changes_gsm_text(text: str):
    assert smart_encode(text) == text


@SETTINGS
@given(st.one_of(any_texts, st.text(st.sampled_from([chr(code) for code in SMART_ENCODING_TABLE]), max_size=200)))
def test_smart_encode_output_is_the_text_or_cheaper_gsm7(text: str):
    encoded = smart_encode(text)
    assert encoded == text or (encoding_of(encoded) == GSM7 and segment_count(encoded) <= segment_count(text))


# --- plan ----------------------------------------------------------------------------------------------------------


def test_plan_of_a_short_gsm_text():
    assert plan("Hello there") == SmsPlan(encoding=GSM7, segments=1, bodies=["Hello there"])


def test_plan_of_an_empty_text_sends_nothing():
    assert plan("") == SmsPlan(encoding=GSM7, segments=0, bodies=[])


def test_plan_of_a_long_body_counts_segments_over_all_sends():
    result = plan("word " * 400)
    assert [len(body) for body in result.bodies] == [1600, 400]
    assert result.encoding == GSM7
    assert result.segments == 11 + 3  # 1,600 septets in parts of 153, then 400


def test_plan_reports_ucs2_when_any_body_is():
    text = "word " * 360 + EMOJI  # only the second body holds the emoji
    result = plan(text)
    assert len(result.bodies) == 2
    assert encoding_of(result.bodies[0]) == GSM7
    assert result.encoding == UCS2
    assert result.segments == 11 + segment_count(result.bodies[1])


def test_plan_smart_encodes_only_when_asked():
    text = f"It{RIGHT_SINGLE_QUOTE}s here"
    assert plan(text) == SmsPlan(encoding=UCS2, segments=1, bodies=[text])
    assert plan(text, smart=True) == SmsPlan(encoding=GSM7, segments=1, bodies=["It's here"])
    curly = f"{LEFT_DOUBLE_QUOTE}{'x' * 100}{RIGHT_DOUBLE_QUOTE}"  # 102 characters: 2 UCS-2 segments, 1 GSM-7
    assert plan(curly).segments == 2
    assert plan(curly, smart=True).segments == 1


@SETTINGS
@given(st.one_of(any_texts, prose), st.booleans())
def test_plan_is_consistent_with_its_parts(text: str, smart: bool):
    result = plan(text, smart=smart)
    sent = smart_encode(text) if smart else text
    assert "".join(result.bodies) == sent
    assert result.bodies == split_body(sent)
    assert result.segments == sum(segment_count(body) for body in result.bodies)
    assert result.encoding == encoding_of(sent)
