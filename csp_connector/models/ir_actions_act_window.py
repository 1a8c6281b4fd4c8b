# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, models


class IrActionsActWindow(models.Model):
    _inherit = "ir.actions.act_window"

    @api.model
    def _csp_action(self, xmlid, domain=None, context=None, **values):
        """The window action `xmlid` for a button to return, its domain and context
        replaced by `domain` and `context` when given, and `values` set on it."""
        action = self._for_xml_id(xmlid)
        if domain is not None:
            action["domain"] = domain
        if context is not None:
            action["context"] = context
        action.update(values)
        return action

    @api.model
    def _csp_window(self, model, res_id=None, view_mode="form", target="current", **values):
        """A window on `model` that no stored action describes: record `res_id` (or a
        new one), or a list (`view_mode` "list,form", with a `domain`); `target` "new"
        opens it in a dialog. `values`: the action's other keys (name, domain, context)."""
        action = {
            "type": "ir.actions.act_window",
            "res_model": model,
            "view_mode": view_mode,
            "views": [(False, mode) for mode in view_mode.split(",")],
            "target": target,
            **values,
        }
        if res_id:
            action["res_id"] = res_id
        return action
