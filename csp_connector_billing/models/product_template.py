# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import fields, models
from odoo.exceptions import UserError


class ProductTemplate(models.Model):
    _inherit = "product.template"

    # computed (not a One2many with an inverse): the core's tests rebuild csp models
    # with odoo-test-helper, which cannot resolve an inverse declared by this add-on
    csp_subscription_ids = fields.Many2many(
        "csp.subscription", string="Microsoft Subscriptions",
        compute="_compute_csp_subscription_ids",
    )  # fmt: skip
    csp_product = fields.Boolean(
        string="Microsoft CSP Product",
        compute="_compute_csp_subscription_ids",
        search="_search_csp_product",
        help="A product of Microsoft subscriptions (the billing step links them).",
    )

    def _compute_csp_subscription_ids(self):
        Subscription = self.env["csp.subscription"]
        for product in self:
            product.csp_subscription_ids = (
                Subscription.search([("product_tmpl_id", "=", product.id)])
                if isinstance(product.id, int)
                else Subscription
            )
            product.csp_product = bool(product.csp_subscription_ids)

    def _search_csp_product(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(self.env._("Unsupported search on Microsoft CSP Product."))
        linked = self.env["csp.subscription"]._search([("product_tmpl_id", "!=", False)])
        inside = (operator == "=") == value
        return [("id", "in" if inside else "not in", linked.subselect("product_tmpl_id"))]
