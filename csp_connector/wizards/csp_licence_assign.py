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
    allowed_sku_ids = fields.Many2many(
        "csp.subscribed.sku", compute="_compute_allowed_sku_ids", string="Licences of the tenant"
    )

    @api.depends("subscribed_sku_id")
    def _compute_allowed_user_ids(self):
        for wizard in self:
            wizard.allowed_user_ids = self.env["csp.user.binding"].search(
                [("csp_tenant_id", "=", wizard.csp_tenant_id.id), ("removed", "=", False)]
            )

    @api.depends("user_binding_id")
    def _compute_allowed_sku_ids(self):
        """Opened from a contact: the licences of its user's tenant it does not hold."""
        for wizard in self:
            user = wizard.user_binding_id
            held = set((user.sku_ids or "").lower().split())
            wizard.allowed_sku_ids = (
                self.env["csp.subscribed.sku"]
                .search([("csp_tenant_id", "=", user.csp_tenant_id.id), ("removed", "=", False)])
                .filtered(lambda sku, held=held: sku.sku_id not in held)
            )

    @api.depends("subscribed_sku_id", "user_binding_id")
    def _compute_display_name(self):
        for wizard in self:
            wizard.display_name = self.env._(
                "Assign %(licence)s to %(user)s",
                licence=wizard.subscribed_sku_id.product_name or "",
                user=wizard.user_binding_id.upn or "…",
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
