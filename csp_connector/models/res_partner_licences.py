# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Smart buttons: a customer's licences and subscriptions, a contact's licences."""

from odoo import fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    csp_licence_count = fields.Integer(
        string="Microsoft Licences", compute="_compute_csp_licence_counts"
    )
    csp_subscription_count = fields.Integer(
        string="Microsoft Subscriptions", compute="_compute_csp_licence_counts"
    )
    csp_assignment_count = fields.Integer(
        string="Licences Held", compute="_compute_csp_licence_counts"
    )

    def _compute_csp_licence_counts(self):
        def counts(model, field, extra=()):
            if not self.env[model].has_access("read"):
                return {}
            groups = self.env[model]._read_group(
                [(field, "in", self.ids), *extra], [field], ["__count"]
            )
            return {partner.id: count for partner, count in groups}

        skus = counts("csp.subscribed.sku", "partner_id", [("removed", "=", False)])
        subscriptions = counts("csp.subscription", "partner_id", [("removed", "=", False)])
        held = counts("csp.licence.assignment", "partner_id")
        for partner in self:
            partner.csp_licence_count = skus.get(partner.id, 0)
            partner.csp_subscription_count = subscriptions.get(partner.id, 0)
            partner.csp_assignment_count = held.get(partner.id, 0)

    def action_csp_open_licences(self):
        self.ensure_one()
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_subscribed_sku_action", [("partner_id", "=", self.id)]
        )

    def action_csp_open_subscriptions(self):
        self.ensure_one()
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_subscription_action", [("partner_id", "=", self.id)]
        )

    def action_csp_open_held_licences(self):
        self.ensure_one()
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_licence_assignment_action", [("partner_id", "=", self.id)]
        )
