# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Text from outside (Microsoft's answers, a query string) made safe for one log line."""

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
MAX_LOG_TEXT = 2000


def one_line(value, limit=MAX_LOG_TEXT):
    """`value` as text with line breaks and control characters replaced by one space
    (a forged line can never start a log line of its own), cut to `limit`."""
    text = _CONTROL.sub(" ", str(value if value is not None else "")).strip()
    return text if len(text) <= limit else f"{text[:limit]}…"
