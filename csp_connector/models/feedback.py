# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What a button answers so that the user sees what it did: a notification (Odoo's
``display_notification`` client action), then the next action (the form read again,
the dialog closed)."""

RELOAD = {"type": "ir.actions.client", "tag": "soft_reload"}
CLOSE = {"type": "ir.actions.act_window_close"}


def notify(message, title=None, kind="success", sticky=False, next_action=None):
    """The client action showing `message` (kind: success, info, warning, danger)."""
    params = {"message": message, "type": kind, "sticky": sticky}
    if title:
        params["title"] = title
    if next_action:
        params["next"] = next_action
    return {"type": "ir.actions.client", "tag": "display_notification", "params": params}
