"""Microsoft's values in words: ISO 8601 durations ("P1Y" -> "1 year"), the enums
Partner Center and Graph send ("monthly" -> "Monthly"), a change of seats ("Seats
added") and dates where Microsoft means a day. Plain text in, plain text out: nothing
here reads or writes the database; the models show what it returns.
"""

import re
from datetime import date, datetime

_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$",
    re.IGNORECASE,
)
_UNITS = (
    ("years", "year", "years"),
    ("months", "month", "months"),
    ("weeks", "week", "weeks"),
    ("days", "day", "days"),
    ("hours", "hour", "hours"),
    ("minutes", "minute", "minutes"),
    ("seconds", "second", "seconds"),
)


def duration(text):
    """An ISO 8601 duration in words: "P1Y" -> "1 year", "P3Y" -> "3 years", "P1M" ->
    "1 month", "P1Y6M" -> "1 year 6 months". A value that is no duration is given back
    as it is (stripped); none gives ""."""
    if not isinstance(text, str) or not text.strip():
        return ""
    found = _DURATION.match(text.strip())
    if not found or not any(found.groupdict().values()):
        return text.strip()
    parts = []
    for key, one, many in _UNITS:
        count = found.group(key)
        if count is None:
            continue
        count = int(count)
        parts.append(f"{count} {one if count == 1 else many}")
    return " ".join(parts)


# Partner Center's billingCycle (and the price sheet's billing plans)
BILLING_CYCLES = {
    "monthly": "Monthly",
    "annual": "Yearly",
    "yearly": "Yearly",
    "triennial": "Every 3 years",
    "onetime": "One time",
    "none": "No billing cycle",
    "unknown": "Unknown",
}

# Graph's capabilityStatus of a subscribed SKU
CAPABILITY_STATUSES = {
    "enabled": "Enabled",
    "warning": "In warning (grace period)",
    "suspended": "Suspended",
    "deleted": "Deleted",
    "lockedout": "Locked out",
}


def _key(text):
    return re.sub(r"[\s_-]+", "", text).lower()


def _words(table, text):
    """The table's words for `text` (any case, spaces or dashes), else `text` spelled
    out: "someNewValue" -> "Some new value"."""
    if not isinstance(text, str) or not text.strip():
        return ""
    word = table.get(_key(text))
    if word is not None:
        return word
    return spell_out(text)


def spell_out(text):
    """An identifier as words: "lockedOut" -> "Locked out", "one_time" -> "One time"."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text.strip())
    text = re.sub(r"[_-]+", " ", text).strip().lower()
    return text[:1].upper() + text[1:]


def billing_cycle(text):
    return _words(BILLING_CYCLES, text)


def capability_status(text):
    return _words(CAPABILITY_STATUSES, text)


def seat_change(old, new):
    """A quantity change in words: "Seats added", "Seats removed", or "" (no change)."""
    if old is None or new is None or old == new:
        return ""
    return "Seats added" if new > old else "Seats removed"


def day(value):
    """A moment where Microsoft means a day, as the day: "2026-12-05" (from a date, a
    datetime or ISO text); "" for none."""
    if not value:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def arrow(source, target):
    """What maps to what: "officeLocation → sites"."""
    return f"{source or '?'} → {target or '?'}"


def distinct_messages(found, limit=20, named=3):
    """Each distinct message once, in the order first met, with where it happened:
    ``found``: (message, where) pairs (where: a tenant's name, or ""). "Consent
    missing (Contoso, Fabrikam and 3 more)"; at most ``limit`` messages, then how many
    more there were."""
    order, places = [], {}
    for message, where in found:
        text = (message or "").strip()
        if not text:
            continue
        if text not in places:
            order.append(text)
            places[text] = []
        if where and where not in places[text]:
            places[text].append(where)
    lines = []
    for text in order[:limit]:
        wheres = places[text]
        if len(wheres) > named:
            shown = ", ".join(wheres[:named]) + f" and {len(wheres) - named} more"
        else:
            shown = ", ".join(wheres)
        lines.append(f"{text} ({shown})" if shown else text)
    if len(order) > limit:
        lines.append(f"… and {len(order) - limit} other errors: see the lines below.")
    return lines
