# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Assign a licence to a user: Microsoft first (see csp.licence.assignment)."""

from odoo import fields, models


class CspLicenceAssign(models.TransientModel):
    _name = "csp.licence.assign"
    _description = "Assign a Microsoft licence to a user"

    subscribed_sku_id = fields.Many2one("csp.subscribed.sku", required=True, ondelete="cascade")
    csp_tenant_id = fields.Many2one(related="subscribed_sku_id.csp_tenant_id")
    user_binding_id = fields.Many2one(
        "csp.user.binding", string="User", required=True, ondelete="cascade"
    )

    def action_assign(self):
        self.ensure_one()
        self.env["csp.licence.assignment"]._csp_assign(self.subscribed_sku_id, self.user_binding_id)
        return {"type": "ir.actions.act_window_close"}
