"""Charset decoding: the bytes of a feed or a page in, text and the codec that fit out.

In: a response body and the charset its server claimed (see :func:`parse_content_type`). Out:
:class:`Decoded` text, the codec used, and what did not match the label. It never raises on
bytes, however broken: the worst case is windows-1252 (or latin-1) with a ``problem`` saying so.
Pure functions, no I/O::

    mime, charset = parse_content_type("text/xml; charset=EUC-KR")   # ('text/xml', 'EUC-KR')
    decode_document(body, charset=charset).text     # a feed: HTTP charset, XML declaration
    decode_html(page, charset=charset).text         # a page: HTTP charset, <meta charset>

Why bytes are decoded here rather than by feedparser or trafilatura: a body that is valid
UTF-8 is UTF-8 whatever it claims, legacy labels mean their Windows supersets (euc-kr → cp949,
gb2312 → gb18030, iso-8859-1 → windows-1252, shift_jis → cp932), and a document that is none
of these falls back to windows-1252. The libraries' own guessing reads EUC-KR bytes outside
EUC-KR as windows-1252.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Decoded:
    """A document as text, the codec that produced it, and what was wrong with its label."""

    text: str
    encoding: str
    problem: str | None = None


_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
# "<?" or "<" followed by a NUL: UTF-16/32 without a byte order mark.
_WIDE_STARTS = (
    (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"), (b"<\x00", "utf-16-le"),
)
#: What a legacy label means in practice: the Windows superset every browser decodes it with.
SUPERSETS = {
    "ascii": "cp1252", "iso8859-1": "cp1252", "euc_kr": "cp949", "gb2312": "gb18030",
    "gbk": "gb18030", "shift_jis": "cp932", "big5": "big5hkscs", "tis-620": "cp874",
    "iso8859-9": "cp1254", "iso8859-11": "cp874",
}
_ALIASES = {"x-sjis": "shift_jis", "windows-31j": "cp932", "x-euc-kr": "euc_kr",
            "ks_c_5601": "euc_kr", "unicode-1-1-utf-8": "utf-8", "x-gbk": "gbk"}
_XML_ENCODING = re.compile(
    rb"<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z][A-Za-z0-9._:-]{0,40})[\"']")
# <meta charset="euc-kr"> and <meta http-equiv="Content-Type" content="text/html; charset=...">
_META_CHARSET = re.compile(
    rb"<meta\s[^>]{0,300}?charset\s*=\s*[\"']?\s*([A-Za-z][A-Za-z0-9._:-]{0,40})", re.IGNORECASE)


def decode_document(body: bytes, *, charset: str | None = None) -> Decoded:
    """Return ``body`` as text, choosing the codec as follows (first that applies).

    1. a byte order mark (it wins over any label);
    2. UTF-16/32 recognized by NUL bytes around the first ``<``;
    3. UTF-8, if the bytes are valid UTF-8 (other encodings almost never are, so a UTF-8
       body labelled iso-8859-1 by its server is still read right);
    4. the HTTP ``charset``, then the XML declaration's ``encoding``: each as its Windows
       superset (:data:`SUPERSETS`), then as itself; a UTF-16/32 label on bytes without NULs
       is ignored;
    5. UTF-8 with the invalid bytes replaced, if they are few next to valid multi-byte ones;
    6. the declared encoding with invalid bytes replaced;
    7. windows-1252 (latin-1 where windows-1252 has holes).
    """
    return _decode(body, [_codec_name(charset), _xml_declared(body)])


def decode_html(body: bytes, *, charset: str | None = None) -> Decoded:
    """Return a web page as text: :func:`decode_document`'s rules, with the page's labels.

    The labels in step 4 are the HTTP ``charset``, then the first ``<meta charset>`` or
    ``<meta http-equiv="Content-Type" content="...; charset=...">`` in the first 1024 bytes
    (where the HTML standard has browsers look for it).
    """
    return _decode(body, [_codec_name(charset), _meta_declared(body)])


def _decode(body: bytes, labels: list[str | None]) -> Decoded:
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return _decode_or_replace(body[len(bom):], codec, "byte order mark")
    for start, codec in _WIDE_STARTS:
        if body.startswith(start):
            return _decode_or_replace(body, codec, "NUL bytes")
    declared = list(dict.fromkeys(label for label in labels if label))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        other = [d for d in declared if d not in ("utf-8", "ascii")]
        problem = None
        if other and not body.isascii():
            problem = f"declared {other[0]}, but the bytes are UTF-8"
        return Decoded(text, "utf-8", problem)
    for label in declared:
        if label == "utf-8" or label.startswith(("utf-16", "utf-32")):
            continue
        for codec in dict.fromkeys((SUPERSETS.get(label, label), label)):
            try:
                text = body.decode(codec)
            except UnicodeDecodeError:
                continue
            problem = None if label == declared[0] else (
                f"charset {declared[0]} does not fit the bytes; used {label}")
            return Decoded(text, codec, problem)
    text = body.decode("utf-8", "replace")
    bad = text.count("\ufffd") - body.count(b"\xef\xbf\xbd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad
    if good > 0 and bad * 10 <= good:
        return Decoded(text, "utf-8", f"{bad} invalid UTF-8 byte sequence(s) replaced")
    for label in declared:
        if label != "utf-8" and not label.startswith(("utf-16", "utf-32")):
            codec = SUPERSETS.get(label, label)
            return Decoded(body.decode(codec, "replace"), codec,
                           f"bytes invalid in the declared {label} were replaced")
    what = f"declared {declared[0]}" if declared else "no encoding declared"
    try:
        return Decoded(body.decode("cp1252"), "cp1252",
                       f"{what} and not UTF-8; decoded as windows-1252")
    except UnicodeDecodeError:
        return Decoded(body.decode("latin-1"), "latin-1",
                       f"{what} and not UTF-8; decoded as latin-1")


def _decode_or_replace(body: bytes, codec: str, evidence: str) -> Decoded:
    try:
        return Decoded(body.decode(codec), codec)
    except UnicodeDecodeError:
        return Decoded(body.decode(codec, "replace"), codec,
                       f"invalid {codec} bytes replaced ({evidence} says {codec})")


def _codec_name(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _meta_declared(body: bytes) -> str | None:
    match = _META_CHARSET.search(body, 0, 1024)
    return _codec_name(match.group(1).decode("ascii")) if match else None


def _xml_declared(body: bytes) -> str | None:
    match = _XML_ENCODING.search(body, 0, 1024)
    return _codec_name(match.group(1).decode("ascii")) if match else None


def parse_content_type(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    mime, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'") or None
    return mime.strip().lower(), charset

