# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Text from outside (Microsoft's answers, a query string) made safe: for one log line
(:func:`one_line`), and for a stored value (:func:`clean_text`)."""

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
MAX_LOG_TEXT = 2000


def one_line(value, limit=MAX_LOG_TEXT):
    """`value` as text with line breaks and control characters replaced by one space
    (a forged line can never start a log line of its own), cut to `limit`."""
    text = _CONTROL.sub(" ", str(value if value is not None else "")).strip()
    return text if len(text) <= limit else f"{text[:limit]}…"


# NUL and the other control characters but tab and line breaks (PostgreSQL refuses NUL;
# the others have no place in a name), and the bidirectional embeddings, overrides and
# isolates that make a name read otherwise than it is stored (the plain direction marks
# U+200E, U+200F and U+061C stay: right-to-left names use them)
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+")


def clean_text(value):
    """`value` without the characters no stored text from outside should hold."""
    return _UNSTORABLE.sub("", value) if isinstance(value, str) else value
