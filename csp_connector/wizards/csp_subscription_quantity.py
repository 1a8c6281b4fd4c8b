# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Adjust a subscription's quantity (see csp.subscription._csp_set_quantity)."""

from odoo import fields, models


class CspSubscriptionQuantity(models.TransientModel):
    _name = "csp.subscription.quantity"
    _description = "Adjust a Microsoft subscription's quantity"

    subscription_id = fields.Many2one("csp.subscription", required=True, ondelete="cascade")
    current_quantity = fields.Integer(related="subscription_id.quantity")
    refundable_quantity = fields.Integer(related="subscription_id.refundable_quantity")
    refundable_until = fields.Datetime(related="subscription_id.refundable_until")
    new_quantity = fields.Integer(required=True)

    def action_apply(self):
        self.ensure_one()
        self.subscription_id._csp_set_quantity(self.new_quantity)
        return {"type": "ir.actions.act_window_close"}
