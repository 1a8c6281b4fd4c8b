# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Adjust a subscription's quantity (see csp.subscription._csp_set_quantity)."""

from odoo import api, fields, models

from ..models import feedback


class CspSubscriptionQuantity(models.TransientModel):
    _name = "csp.subscription.quantity"
    _description = "Adjust a Microsoft subscription's quantity"

    subscription_id = fields.Many2one("csp.subscription", required=True, ondelete="cascade")
    current_quantity = fields.Integer(related="subscription_id.quantity")
    refundable_quantity = fields.Integer(related="subscription_id.refundable_quantity")
    refundable_until = fields.Datetime(related="subscription_id.refundable_until")
    renewal_day = fields.Date(related="subscription_id.renewal_day")
    new_quantity = fields.Integer(required=True)

    @api.depends("subscription_id", "new_quantity")
    def _compute_display_name(self):
        for wizard in self:
            wizard.display_name = self.env._(
                "%(subscription)s: %(old)s → %(new)s seats",
                subscription=wizard.subscription_id.display_name,
                old=wizard.current_quantity,
                new=wizard.new_quantity,
            )

    def action_apply(self):
        self.ensure_one()
        subscription, asked = self.subscription_id, self.new_quantity
        old = subscription.quantity
        subscription._csp_set_quantity(asked)
        values = {"name": subscription.display_name, "old": old, "new": asked}
        if subscription.quantity != asked and subscription.pending_quantity == asked:
            return feedback.notify(
                self.env._(
                    "Partner Center accepted the change of %(name)s from %(old)s to %(new)s "
                    "seats and is still applying it: %(new)s shows as pending until Partner "
                    "Center confirms it (the next licences sync reads it again).",
                    **values,
                ),
                title=self.env._("Quantity change pending at Microsoft"),
                kind="info",
                next_action=feedback.CLOSE,
            )
        return feedback.notify(
            self.env._(
                "%(name)s now has %(new)s seats in Partner Center (it had %(old)s).", **values
            ),
            title=self.env._("Quantity changed"),
            next_action=feedback.CLOSE,
        )
