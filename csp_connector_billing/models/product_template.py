# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import fields, models


class ProductTemplate(models.Model):
    _inherit = "product.template"

    # computed (not a One2many with an inverse): the core's tests rebuild csp models
    # with odoo-test-helper, which cannot resolve an inverse declared by this add-on
    csp_subscription_ids = fields.Many2many(
        "csp.subscription", string="Microsoft Subscriptions",
        compute="_compute_csp_subscription_ids",
    )  # fmt: skip

    def _compute_csp_subscription_ids(self):
        Subscription = self.env["csp.subscription"]
        for product in self:
            product.csp_subscription_ids = (
                Subscription.search([("product_tmpl_id", "=", product.id)])
                if isinstance(product.id, int)
                else Subscription
            )
