# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The billing add-on's own Microsoft calls, built on the core's clients: no ORM access
here. ``line_items`` reads Partner Center's unbilled reconciliation line items;
``errors`` explains their failures (registered in the core's explanation table)."""
