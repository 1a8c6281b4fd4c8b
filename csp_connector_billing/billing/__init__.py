# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Plain Python billing arithmetic: no ORM access here, so every rule is tested without a
database. ``prorata`` turns a subscription's changes into charge, credit and refund lines
the way Microsoft's new-commerce billing does."""
