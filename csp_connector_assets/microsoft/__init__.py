# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The device import's own Microsoft Graph calls, through the core's Graph client."""
