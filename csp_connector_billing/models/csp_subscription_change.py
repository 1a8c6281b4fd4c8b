# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A subscription change's prices in force, and the adjustments billed from it."""

from odoo import api, fields, models

from .csp_billing_adjustment import price_field


class CspSubscriptionChange(models.Model):
    _inherit = "csp.subscription.change"

    unit_cost = price_field(
        "Microsoft Cost", "The subscription's Microsoft Cost per seat when the change was recorded."
    )
    list_price = price_field(
        "Unit Price",
        "Your price per seat when the change was recorded: the contract line's, else the "
        "offer product's sales price.",
    )
    adjustment_ids = fields.One2many(
        "csp.billing.adjustment", "change_id", string="Pro-rata Adjustments", readonly=True
    )
    adjustment_tag_ids = fields.Many2many(
        "csp.billing.adjustment", string="Adjustments", compute="_compute_adjustment_tag_ids",
        help="The pro-rata adjustments billed from this change.",
    )  # fmt: skip

    @api.depends("adjustment_ids")
    def _compute_adjustment_tag_ids(self):
        for change in self:
            change.adjustment_tag_ids = change.adjustment_ids

    @api.model
    def _csp_change_prices(self, subscription):
        line = subscription.contract_line_id
        price = line.price_unit if line else subscription.product_id.lst_price
        return {
            **super()._csp_change_prices(subscription),
            "unit_cost": subscription.cost_price,
            "list_price": price,
        }

    @api.model
    def _csp_billed_ids(self, changes):
        billed = (
            self.env["csp.billing.adjustment"].sudo().search([("change_id", "in", changes.ids)])
        )
        return super()._csp_billed_ids(changes) | set(billed.change_id.ids)
