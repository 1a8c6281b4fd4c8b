# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import fields, models


class ContractLine(models.Model):
    _inherit = "contract.line"

    csp_subscription_id = fields.Many2one(
        "csp.subscription", string="Microsoft Subscription", index=True, ondelete="set null",
        copy=False, readonly=True,
        help="The subscription this line invoices; the billing step keeps its quantity.",
    )  # fmt: skip
    csp_billed_since = fields.Datetime(
        string="Microsoft Changes Billed Since", readonly=True, copy=False,
        help="The subscription's changes after this moment are billed as pro-rata "
        "adjustments; those before it were already part of the line.",
    )  # fmt: skip
    # computed without a related path: the core's tests rebuild csp.subscription with
    # odoo-test-helper, without this add-on's fields
    csp_cost_price = fields.Float(
        string="Microsoft Cost", compute="_compute_csp_cost_price", digits="Product Price"
    )

    def _compute_csp_cost_price(self):
        for line in self:
            subscription = line.csp_subscription_id
            line.csp_cost_price = subscription.cost_price if subscription else 0.0

    _sql_constraints = [
        (
            "csp_subscription_unique",
            "unique(csp_subscription_id)",
            "A Microsoft subscription is invoiced by one contract line only.",
        )
    ]
