"""Microsoft's dates and times, as its APIs send them."""

import logging
import re
from datetime import UTC, datetime

_logger = logging.getLogger(__name__)

_FRACTION = re.compile(r"(?<=\.)(\d+)")  # Python wants at most 6 digits
_DATE_TIME_SPACE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*[Tt ]\s*(?=\d)")
_ZULU = re.compile(r"\s*[Zz]$")
_OFFSET = re.compile(r"\s*([+-])(\d{2}):?(\d{2})$")


def parse_datetime(value):
    """Microsoft's ISO 8601 timestamps, as they come: "2026-01-31T10:00:00Z", 7-digit
    fractions, offsets ("+01:00", "+0100"), no zone (UTC), and the stray spaces of some
    published examples ("2026-01-31 T10:00:00 Z"). Anything else is None (and logged),
    never an exception that would stop a sync."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = _DATE_TIME_SPACE.sub(r"\1T", str(value).strip())
    text = _ZULU.sub("+00:00", text)
    text = _OFFSET.sub(r"\1\2:\3", text) if "T" in text else text
    text = _FRACTION.sub(lambda m: m.group(1)[:6], text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        _logger.warning("CSP: %r is not a date Microsoft documents", value)
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_unreadable(value):
    """Whether Microsoft sent a date (not null, not empty) that cannot be read: a reader
    keeps the value it has, and says so, rather than storing it empty."""
    if value is None or value == "":
        return False
    return not isinstance(value, (str, datetime)) or parse_datetime(value) is None


def odoo_datetime(value):
    """A Microsoft timestamp as Odoo stores datetimes: naive UTC (an offset is converted,
    not dropped). None for no value, an unreadable one, or the "never" date Microsoft's
    APIs send for unset times (0001-01-01)."""
    parsed = parse_datetime(value)
    if parsed is None or parsed.year < 1900:
        return None
    return parsed.astimezone(UTC).replace(tzinfo=None)
