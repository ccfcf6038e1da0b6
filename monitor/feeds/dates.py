"""Feed dates: the text a feed wrote in, an aware UTC datetime (or None) out.

In: a date string as RSS, Atom or JSON Feed wrote it (RFC 822, ISO 8601, or one of the local
forms feeds use instead) and, optionally, feedparser's own reading of it. Out: a timezone-aware
UTC datetime, or None when the text says no date that can be trusted. It never raises on bad
input and never guesses today's date::

    parse_date("Tue, 05 Mar 2024 09:30:00 +0900")   # datetime(2024, 3, 5, 0, 30, tzinfo=UTC)
    parse_date("5. März 2024, 08:15 CET")           # datetime(2024, 3, 5, 7, 15, tzinfo=UTC)
    parse_date("soon")                              # None
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

# Month names as feeds write them when they ignore RFC 822: English, Portuguese, Spanish,
# Italian, French, German (accents removed, lower case, full names and abbreviations).
_MONTHS = {name: number for number, names in enumerate((
    "jan january janeiro enero ene gennaio gen janvier janv januar jaen",
    "feb february fevereiro fev febrero febbraio fevrier fevr februar",
    "mar march marco marzo mars maerz marz maer",
    "apr april abril abr aprile avril avr",
    "may mai maio mayo maggio mag",
    "jun june junho junio giugno giu juin",
    "jul july julho julio luglio lug juillet juil juli",
    "aug august agosto ago aout",
    "sep sept september setembro set septiembre settembre septembre",
    "oct october outubro out octubre ottobre ott octobre okt oktober",
    "nov november novembro noviembre novembre",
    "dec december dezembro dez diciembre dic dicembre decembre dezember",
), start=1) for name in names.split()}
_ZONES = {"z": 0, "ut": 0, "utc": 0, "gmt": 0, "wet": 0, "bst": 60, "cet": 60, "cest": 120,
          "eet": 120, "eest": 180, "msk": 180, "ist": 330, "hkt": 480, "jst": 540,
          "kst": 540, "aest": 600, "est": -300, "edt": -240, "cst": -360, "cdt": -300,
          "mst": -420, "mdt": -360, "pst": -480, "pdt": -420}
_TIME = (r"(?:[\sT,]+(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?:[:.](?P<second>\d{2}))?(?:\.\d+)?"
         r"\s*(?P<ampm>[ap]\.?m\.?)?)?\s*(?P<zone>[+-]\d{2}:?\d{2}|[a-z]{1,5}\b)?")
_WEEKDAY = r"(?:[^\W\d_]{2,}\.?,?\s+)?"
_DATE_PARTS = (
    r"(?P<day>\d{1,2})\.?\s*(?:de\s+)?(?P<month>[^\W\d_]{3,})\.?,?\s*(?:de\s+)?(?P<year>\d{4})",
    r"(?P<month>[^\W\d_]{3,})\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})",
    r"(?P<year>\d{4})[-/.](?P<month>\d{1,2})[-/.](?P<day>\d{1,2})",
)
_WHOLE_DATES = [re.compile(_WEEKDAY + p + _TIME + r"\s*$") for p in _DATE_PARTS]
_DATES_INSIDE = [re.compile(p + _TIME) for p in _DATE_PARTS]


def parse_date(value: str | None, *, guess: datetime | None = None) -> datetime | None:
    """Return a feed date as aware UTC, or None when it cannot be read.

    Order, first that succeeds:
    1. ISO 8601 / RFC 3339;
    2. a whole string of the form day-month-year, month-day-year or year/month/day (month
       names in six languages, optional weekday, 12-hour times, numeric or named zones such
       as EST, PDT, KST; no zone means UTC);
    3. ``guess``: feedparser's reading, which knows rarer formats but reads
       ``2020/1/10 14:33`` as 1 December 2020 and ignores "PM";
    4. RFC 822 as the email module reads it;
    5. a date of the forms in 2 found inside the string.
    """
    if not value or not value.strip():
        return guess
    value = " ".join(value.split())
    try:
        return _as_utc(datetime.fromisoformat(value))
    except ValueError:
        pass
    folded = _strip_accents(value.lower())
    for form in _WHOLE_DATES:
        match = form.match(folded)
        if match and (found := _from_match(match)):
            return found
    if guess is not None:
        return guess
    try:
        return _as_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        pass
    for form in _DATES_INSIDE:
        match = form.search(folded)
        if match and (found := _from_match(match)):
            return found
    return None


def _from_match(match: re.Match[str]) -> datetime | None:
    parts = match.groupdict()
    month_text = parts["month"]
    month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text.rstrip("."))
    if not month:
        return None
    hour, minute = int(parts["hour"] or 0), int(parts["minute"] or 0)
    ampm = (parts["ampm"] or "").replace(".", "")
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    offset = _zone_minutes(parts["zone"])
    try:
        local = datetime(int(parts["year"]), month, int(parts["day"]), hour, minute,
                         int(parts["second"] or 0), tzinfo=timezone(timedelta(minutes=offset)))
    except ValueError:
        return None
    return local.astimezone(UTC)


def _zone_minutes(zone: str | None) -> int:
    if not zone:
        return 0
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:4])
        return -minutes if zone[0] == "-" else minutes
    return _ZONES.get(zone, 0)


def _strip_accents(text: str) -> str:
    return text.translate(_ACCENTS)


_ACCENTS = str.maketrans("áàâãäçéèêëíìîïñóòôõöúùûüß", "aaaaaceeeeiiiinooooouuuus")


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)

