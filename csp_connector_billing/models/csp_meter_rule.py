# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Which product an Azure meter is invoiced as, and at what markup (billing/azure.py
applies the rules)."""

from odoo import api, fields, models

from ..billing import azure
from .csp_connection import check_invoicing_rights

MARKUP_MODES = [
    (azure.MARKUP_CUSTOMER, "The customer's markup"),
    (azure.MARKUP_RULE, "This rule's markup"),
    (azure.MARKUP_NONE, "No markup (list price)"),
]
RULE_FIELDS = ("meter_category", "meter_subcategory", "meter_name", "meter_region",
               "product_id", "markup_mode", "markup", "sequence", "active")  # fmt: skip


class CspMeterRule(models.Model):
    _name = "csp.meter.rule"
    _description = "Azure Meter Rule"
    _order = "sequence, id"

    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    meter_category = fields.Char(
        help="Microsoft's meter category (Virtual Machines, Storage...); empty: any. "
        "* and ? are wildcards; letter case does not matter."
    )
    meter_subcategory = fields.Char(help="Microsoft's meter subcategory; empty: any.")
    meter_name = fields.Char(help="Microsoft's meter name (D2s v5...); empty: any.")
    meter_region = fields.Char(help="Microsoft's meter region (UK South...); empty: any.")
    product_id = fields.Many2one(
        "product.product", required=True,
        help="The product the customer's invoice line of these meters carries.",
    )  # fmt: skip
    markup_mode = fields.Selection(
        MARKUP_MODES, string="Markup", default=azure.MARKUP_CUSTOMER, required=True,
        help="The markup over Microsoft's list price: the customer's (set on the customer, "
        "none when not set), this rule's own, or none.",
    )  # fmt: skip
    markup = fields.Float(string="Markup %", help="Used when Markup is 'This rule's markup'.")

    @api.depends("meter_category", "meter_subcategory", "meter_name", "meter_region")
    def _compute_display_name(self):
        for rule in self:
            parts = [rule.meter_category, rule.meter_subcategory, rule.meter_name,
                     rule.meter_region]  # fmt: skip
            rule.display_name = " / ".join(p or "*" for p in parts)

    @api.model_create_multi
    def create(self, vals_list):
        check_invoicing_rights(self.env, self.env._("Mapping Azure meters to products"))
        return super().create(vals_list)

    def write(self, vals):
        if set(vals) & set(RULE_FIELDS):
            check_invoicing_rights(self.env, self.env._("Changing an Azure meter rule"))
        return super().write(vals)

    def unlink(self):
        check_invoicing_rights(self.env, self.env._("Deleting an Azure meter rule"))
        return super().unlink()

    def _csp_rules(self):
        """These rules as billing/azure.py's plain rules, in sequence."""
        return [
            azure.Rule(
                rule.id,
                rule.product_id.id,
                rule.meter_category or "",
                rule.meter_subcategory or "",
                rule.meter_name or "",
                rule.meter_region or "",
                rule.markup_mode,
                rule.markup,
            )
            for rule in self.sorted(lambda r: (r.sequence, r.id))
        ]
