# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Outside text is written to the server log on one line, and stored without the
characters no stored text should hold."""

from odoo.addons.csp_connector.microsoft.safe_text import clean_text, one_line


def test_line_breaks_and_control_characters_become_one_space():
    forged = "cancelled\r\n2026-12-01 00:00:00,000 1 CRITICAL db odoo: forged\x1b[31m\x00end"
    text = one_line(forged)
    assert text == "cancelled 2026-12-01 00:00:00,000 1 CRITICAL db odoo: forged [31m end"
    assert one_line("a\u2028b\u2029c\x85d") == "a b c d"


def test_plain_text_and_other_values_are_kept():
    assert one_line("Admin consent déclinée (AADSTS65004)") == (
        "Admin consent déclinée (AADSTS65004)"
    )
    assert one_line(None) == ""
    assert one_line(42) == "42"


def test_long_text_is_cut():
    assert one_line("x" * 5000, limit=10) == "xxxxxxxxxx…"


def test_clean_text_drops_what_no_stored_name_should_hold():
    assert clean_text("Ann\x00 Lee") == "Ann Lee"
    assert clean_text("\u202eevil.exe\u202c \u2066x\u2069") == "evil.exe x"
    assert clean_text("bell\x07 and\x1b[31m red") == "bell and[31m red"
    # right-to-left text and its plain direction marks stay, as do line breaks and tabs
    assert (
        clean_text("\u05e9\u05dc\u05d5\u05dd\u200f \u200e")
        == "\u05e9\u05dc\u05d5\u05dd\u200f \u200e"
    )
    assert clean_text("a\tb\nc") == "a\tb\nc"
    assert clean_text(None) is None
