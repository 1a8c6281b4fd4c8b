# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Assign a licence to a user: Microsoft first (see csp.licence.assignment)."""

from odoo import api, fields, models

from ..models import feedback


class CspLicenceAssign(models.TransientModel):
    _name = "csp.licence.assign"
    _description = "Assign a Microsoft licence to a user"

    subscribed_sku_id = fields.Many2one("csp.subscribed.sku", required=True, ondelete="cascade")
    csp_tenant_id = fields.Many2one(related="subscribed_sku_id.csp_tenant_id")
    user_binding_id = fields.Many2one(
        "csp.user.binding", string="User", required=True, ondelete="cascade"
    )
    allowed_user_ids = fields.Many2many(
        "csp.user.binding", compute="_compute_allowed_user_ids", string="Users of the tenant"
    )

    @api.depends("subscribed_sku_id")
    def _compute_allowed_user_ids(self):
        for wizard in self:
            wizard.allowed_user_ids = self.env["csp.user.binding"].search(
                [("csp_tenant_id", "=", wizard.csp_tenant_id.id), ("removed", "=", False)]
            )

    def action_assign(self):
        self.ensure_one()
        self.env["csp.licence.assignment"]._csp_assign(self.subscribed_sku_id, self.user_binding_id)
        return feedback.notify(
            self.env._(
                "%(licence)s assigned to %(user)s in Microsoft.",
                licence=self.subscribed_sku_id.display_name,
                user=self.user_binding_id.display_name,
            ),
            title=self.env._("Licence assigned"),
            next_action=feedback.CLOSE,
        )
