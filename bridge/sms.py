"""How a text goes out as SMS: its encoding (GSM-7 or UCS-2), the segments a carrier cuts it into, and the separate
sends a body longer than Twilio's 1,600-character cap becomes. Pure: no I/O.

Facts this follows (engineering notes §4.1, §4.2):
- GSM-7 when every character is in the GSM 03.38 basic or extension table, else UCS-2 for the *whole* message.
- One segment holds 160 septets (GSM-7) or 70 UTF-16 code units (UCS-2); once a message needs more, each part holds
  153 septets or 67 units (the rest of the 140 bytes carries the concatenation header).
- Extension characters (``^ { } \\ [ ~ ] | €`` and form feed) are an escape plus a character: 2 septets, never split
  across parts. Characters outside the BMP are a surrogate pair in UTF-16: 2 units, never split either.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass

import gsm0338

GSM7 = "GSM-7"
UCS2 = "UCS-2"
SINGLE_LIMITS: dict[str, int] = {GSM7: 160, UCS2: 70}  # septets / UTF-16 code units in a one-segment message
PART_LIMITS: dict[str, int] = {GSM7: 153, UCS2: 67}  # the same, per part of a concatenated message
MAX_BODY = 1600  # Twilio's per-message cap (error 21617)

# --- the GSM 03.38 tables, read from the gsm0338 codec rather than typed in by hand ------------------------------

_GSM_CODEC = gsm0338.Codec()
_ESCAPE = 0x1B


def _decoded_table(prefix: bytes) -> frozenset[str]:
    """The characters the codec decodes from `prefix` + each 7-bit code (b"" = basic table, ESC = extension)."""
    characters: set[str] = set()
    for code in range(0x80):
        # In the basic table 0x1B is the escape into the extension table, not a character: the codec still maps
        # U+001B to it, but a lone ESC on the air would swallow the next character, so ESC counts as non-GSM here.
        if code == _ESCAPE:
            continue
        try:
            characters.add(_GSM_CODEC.decode(prefix + bytes([code]))[0])
        except UnicodeDecodeError:  # unassigned slot of the extension table
            continue
    return frozenset(characters)


GSM7_BASIC: frozenset[str] = _decoded_table(b"")  # 127 characters, one septet each
GSM7_EXTENSION: frozenset[str] = _decoded_table(bytes([_ESCAPE]))  # 10 characters, two septets each
GSM7_CHARACTERS: frozenset[str] = GSM7_BASIC | GSM7_EXTENSION


def _is_high_surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udbff"


def _is_low_surrogate(char: str) -> bool:
    return "\udc00" <= char <= "\udfff"


# --- encoding and units ------------------------------------------------------------------------------------------


def encoding_of(text: str) -> str:
    """GSM7 when every character is in the GSM 03.38 basic or extension table, else UCS2 ("" is GSM7)."""
    return GSM7 if GSM7_CHARACTERS.issuperset(text) else UCS2


def _cost(char: str, encoding: str) -> int:
    """Septets (GSM7) or UTF-16 code units (UCS2) one code point takes."""
    if encoding == UCS2:
        return 2 if ord(char) > 0xFFFF else 1
    if encoding == GSM7:
        if char in GSM7_BASIC:
            return 1
        if char in GSM7_EXTENSION:
            return 2
        raise ValueError(f"{char!r} is not encodable in GSM-7")
    raise ValueError(f"unknown SMS encoding {encoding!r}")


def units(text: str, encoding: str) -> int:
    """Septets (extension characters count 2) for GSM7, UTF-16 code units for UCS2.

    Raises ValueError for GSM7 when `text` has a character outside the GSM 03.38 tables.
    """
    return sum(_cost(char, encoding) for char in text)


# --- segments ----------------------------------------------------------------------------------------------------

# A Python str normally holds an astral character as one code point, but one built with "surrogatepass" can hold the
# two halves as separate code points; keep such a pair together too.
_ATOM = re.compile("[\ud800-\udbff][\udc00-\udfff]|.", re.DOTALL)


def segments(text: str) -> list[str]:
    """The parts a carrier cuts `text` into, in order; [] for "".

    One part when the text fits the single-segment limit of its encoding, else greedily filled parts of at most 153
    septets / 67 code units, never splitting an extension character's escape pair or a surrogate pair (so a part
    may hold one unit less: 81 x "€" is 76 + 5 characters, 70 emoji are 33 + 33 + 4).
    """
    if not text:
        return []
    encoding = encoding_of(text)
    if units(text, encoding) <= SINGLE_LIMITS[encoding]:
        return [text]
    part_limit = PART_LIMITS[encoding]
    parts: list[str] = []
    part_start = 0
    used = 0
    for atom in _ATOM.finditer(text):
        cost = units(atom.group(), encoding)
        if used + cost > part_limit:
            parts.append(text[part_start : atom.start()])
            part_start, used = atom.start(), 0
        used += cost
    parts.append(text[part_start:])
    return parts


def segment_count(text: str) -> int:
    """How many segments `text` is billed as (0 for "")."""
    return len(segments(text))


# --- bodies: Twilio's 1,600-character cap ------------------------------------------------------------------------


def body_length(text: str) -> int:
    """Length as counted against MAX_BODY: UTF-16 code units, so an emoji counts 2.

    Twilio says "characters" without defining them and notes that non-GSM characters may count extra; code units are
    never fewer than code points, so a body within the limit this way is within it either way.
    """
    return units(text, UCS2)


# Whitespace that does not mark a word boundary: splitting there is what these characters exist to prevent.
_NO_BREAK_SPACES = frozenset("\u00a0\u2007\u202f")
_ZERO_WIDTH_JOINER = "\u200d"


def _is_break_space(char: str) -> bool:
    return char.isspace() and char not in _NO_BREAK_SPACES


def _is_regional_indicator(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _extends_previous(char: str) -> bool:
    """Whether `char` belongs to the character before it (a cheap subset of Unicode's grapheme-cluster rules)."""
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")  # combining marks, incl. variation selectors
        or char == _ZERO_WIDTH_JOINER
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # emoji skin-tone modifiers
        or "\U000e0020" <= char <= "\U000e007f"  # emoji tag sequences (subdivision flags)
    )


def _can_cut(text: str, index: int) -> bool:
    """Whether text[:index] / text[index:] keeps pairs and (cheaply detected) grapheme clusters whole."""
    before, after = text[index - 1], text[index]
    if before == "\r" and after == "\n":
        return False
    if _is_high_surrogate(before) and _is_low_surrogate(after):
        return False
    if before == _ZERO_WIDTH_JOINER or _extends_previous(after):
        return False
    if _is_regional_indicator(before) and _is_regional_indicator(after):
        # Flags are pairs of regional indicators: a cut is inside one when an odd number of them precede it.
        run = 0
        while index - run - 1 >= 0 and _is_regional_indicator(text[index - run - 1]):
            run += 1
        return run % 2 == 0
    return True


def _cut_position(text: str, start: int, end: int) -> int:
    """Where the part beginning at `start` ends, given that text[start:end] is the longest prefix within the limit."""
    # Prefer a word boundary, the latest one: after whitespace (which stays at the end of the part), or right before
    # it when a word ends exactly at the limit.
    for index in range(end, start, -1):
        if (_is_break_space(text[index - 1]) or _is_break_space(text[index])) and _can_cut(text, index):
            return index
    # A word longer than the limit: hard-split it, if possible outside a grapheme cluster.
    for index in range(end, start, -1):
        if _can_cut(text, index):
            return index
    # One cluster longer than the limit (pathological): cut it anyway, but never inside a surrogate pair.
    if _is_high_surrogate(text[end - 1]) and _is_low_surrogate(text[end]) and end - 1 > start:
        return end - 1
    return end


def split_body(text: str, limit: int = MAX_BODY) -> list[str]:
    """`text` as the separate sends it needs: parts of at most `limit` (see body_length), in order; [] for "".

    Cuts after whitespace (which is kept, at the end of a part) so words stay whole; a word longer than `limit` is
    hard-split, avoiding surrogate pairs and combining sequences. "".join(parts) == text.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2: a surrogate pair is 2 code units and cannot be split")
    if not text:
        return []
    # cumulative[i] = body_length(text[:i]); strictly increasing, so bisect finds the longest prefix within limit.
    cumulative = [0]
    for char in text:
        cumulative.append(cumulative[-1] + _cost(char, UCS2))
    parts: list[str] = []
    start = 0
    while cumulative[-1] - cumulative[start] > limit:
        end = bisect.bisect_right(cumulative, cumulative[start] + limit) - 1
        cut = _cut_position(text, start, end)
        parts.append(text[start:cut])
        start = cut
    parts.append(text[start:])
    return parts


# --- smart encoding ----------------------------------------------------------------------------------------------

# Look-alikes replaced by Twilio's "Smart Encoding" (Messaging Services). Twilio's documentation page does not list
# the characters; this follows the SmartEncodingMap of Twilio's own segment calculator (github.com/TwilioDevEd/
# message-segment-calculator, src/libs/SmartEncodingMap.ts, which cites twilio.com/docs/messaging/services#smart-
# encoding), regrouped by replacement, with these deliberate differences:
# - unicode spaces become ONE space (the calculator writes two), a tab one space (it writes seven), line and paragraph
#   separators a newline (it writes a space): replacements should not reshape the text;
# - U+2039/U+203A become "<"/">" (the calculator has them the wrong way round);
# - combining marks in the list (U+0302 -> "^", U+0326 -> ",", U+0332 -> "_", ...) are left alone: in decomposed
#   text they are accents on letters, and "e" + U+0302 must not become "e^";
# - added: prime marks U+2032/U+2035 -> "'", U+2033/U+2036 -> '"'; non-breaking hyphen, figure dash, minus sign -> "-";
#   zero-width non-joiner removed (added to the calculator's map after the version read).
_LOOKALIKES: dict[str, str] = {
    '"': (
        "\u00ab\u00bb"  # « »
        "\u201c\u201d\u201e\u201f"  # curly double quotes, low and reversed
        "\u02ba\u02ee"  # modifier letter double prime / double apostrophe
        "\u275d\u275e\u301d\u301e\uff02"  # ornaments, CJK double-prime quotes, fullwidth
        "\u2033\u2036"  # double prime, reversed double prime
    ),
    "'": (
        "\u2018\u2019\u201b"  # curly single quotes, reversed
        "\u02b9\u02bb\u02bc\u02bd\u02c8\u02ca\u02cb"  # modifier letter prime / apostrophes / accents
        "\u00b4\u0060"  # acute accent, grave accent (the backtick is in neither GSM table)
        "\u275b\u275c\ufe10\ufe11\uff07"  # ornaments, vertical presentation forms, fullwidth
        "\u2032\u2035"  # prime, reversed prime
    ),
    "-": (
        "\u2010\u2011\u2012\u2013\u2014\u2015"  # hyphen, non-breaking hyphen, figure dash, en dash, em dash, bar
        "\u2212\u2043\u2022"  # minus sign, hyphen bullet, bullet
        "\u23bc\u23bd\ufe63\uff0d"  # scan lines, small and fullwidth hyphen-minus
    ),
    "...": "\u2026",  # horizontal ellipsis
    " ": (
        "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"  # spaces
        "\u0009"  # tab
        "\u0080\u008d\u0090\u009b\u009f"  # C1 controls that render as a space
    ),
    "\n": "\u2028\u2029",  # line / paragraph separator
    "": (
        "\u200b\u200c\u2060\ufeff"  # zero-width space / non-joiner, word joiner, BOM
        "\u0000\u0003\u0004\u0010\u0011\u0012\u0013\u0014\u0017\u0019"  # invisible C0 controls
    ),
    "/": "\u00f7\u2044\u2215\u29f8\uff0f",
    "1/4": "\u00bc",
    "1/2": "\u00bd",
    "3/4": "\u00be",
    "\\": "\u29f5\u29f9\ufe68\uff3c",
    "_": "\u2017\uff3f",
    "|": "\u2223\u239c\u239f\u23b8\u23b9\u23d0\uff5c",
    "@": "\ufe6b\uff20",
    "$": "\ufe69\uff04",
    "!": "\u01c3\ufe15\ufe57\uff01",
    "!!": "\u203c",
    "#": "\ufe5f\uff03",
    "%": "\ufe6a\uff05",
    "&": "\ufe60\uff06",
    ",": "\u201a\u3001\ufe50\ufe51\uff0c\uff64",
    "(": "\u2768\u276a\u27ee\u2985\ufe59\uff08",
    ")": "\u2769\u276b\u27ef\u2986\ufe5a\uff09",
    "*": (
        "\u204e\u2217\u229b\u2722\u2723\u2724\u2725\u2731\u2732\u2733\u273a\u273b\u273c\u273d"
        "\u2743\u2749\u274a\u274b\u29c6\ufe61\uff0a"
    ),
    "+": "\u02d6\ufe62\uff0b",
    ".": "\u3002\ufe52\uff0e\uff61",
    ":": "\u02d0\u02f8\u2982\ua789\ufe13\uff1a",
    ";": "\u204f\ufe14\ufe54\uff1b",
    "<": "\u2039\ufe64\uff1c",
    "=": "\ua78a\ufe66\uff1d",
    ">": "\u203a\ufe65\uff1e",
    "?": "\ufe16\ufe56\uff1f",
    "^": "\u02c6\uff3e",
    "{": "\u2774\ufe5b\uff5b",
    "}": "\u2775\ufe5c\uff5d",
    "[": "\uff3b",
    "]": "\uff3d",
    "~": "\u02dc\u02f7\u223c\uff5e",
}
_SMALL_CAPITALS = {  # LATIN LETTER SMALL CAPITAL x, as in Twilio's list (Q and X have none)
    "A": "\u1d00", "B": "\u0299", "C": "\u1d04", "D": "\u1d05", "E": "\u1d07", "F": "\ua730", "G": "\u0262",
    "H": "\u029c", "I": "\u026a", "J": "\u1d0a", "K": "\u1d0b", "L": "\u029f", "M": "\u1d0d", "N": "\u0274",
    "O": "\u1d0f", "P": "\u1d18", "R": "\u0280", "S": "\ua731", "T": "\u1d1b", "U": "\u1d1c", "V": "\u1d20",
    "W": "\u1d21", "Y": "\u028f", "Z": "\u1d22",
}  # fmt: skip


def _smart_table() -> dict[int, str]:
    table = {ord(source): target for target, sources in _LOOKALIKES.items() for source in sources}
    table.update({ord(source): letter for letter, source in _SMALL_CAPITALS.items()})
    table.update({0xFF10 + offset: str(offset) for offset in range(10)})  # fullwidth digits
    table.update({0xFF21 + offset: chr(ord("A") + offset) for offset in range(26)})  # fullwidth capital letters
    return table


SMART_ENCODING_TABLE: dict[int, str] = _smart_table()  # for str.translate: code point -> GSM-7 replacement


def transliterate(text: str) -> str:
    """Every look-alike in SMART_ENCODING_TABLE replaced by its GSM-7 equivalent, whatever else `text` holds."""
    return text.translate(SMART_ENCODING_TABLE)


def smart_encode(text: str) -> str:
    """Twilio's "Smart Encoding": `text` with look-alikes (curly quotes, dashes, "…", unicode spaces, ...) replaced
    by GSM-7 characters, when that makes the whole text GSM-7 without costing more segments; else `text` unchanged.

    All or nothing, as Twilio describes it ("if there are GSM7/ASCII alternatives and no characters that can't be
    converted in the message, e.g. emoji"): with an emoji left the message is UCS-2 anyway, and "…" -> "..." would
    only make it longer. GSM-7 text is never changed (no GSM-7 character is in the table).
    """
    replaced = transliterate(text)
    if replaced == text or encoding_of(replaced) != GSM7:
        return text
    # "…" and "¼" grow to three septets: 70 x "…" is one UCS-2 segment but two GSM-7 ones.
    if segment_count(replaced) > segment_count(text):
        return text
    return replaced


# --- the plan for one delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsPlan:
    """What one delivery sends: the bodies (one send each), their encoding, and the segments billed in total."""

    encoding: str  # UCS2 when any body is UCS-2
    segments: int  # over all bodies
    bodies: list[str]


def plan(text: str, smart: bool = False) -> SmsPlan:
    """How `text` goes out: smart-encoded if asked, split into bodies within MAX_BODY, encoding and segments counted.

    "" plans no body and no segment; whether an empty text is sent at all (e.g. media only) is the caller's call.
    """
    if smart:
        text = smart_encode(text)
    bodies = split_body(text)
    encoding = UCS2 if any(encoding_of(body) == UCS2 for body in bodies) else GSM7
    return SmsPlan(encoding=encoding, segments=sum(segment_count(body) for body in bodies), bodies=bodies)
