# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Smart buttons: a customer's licences and subscriptions, a contact's licences."""

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError


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
    csp_can_assign_licence = fields.Boolean(
        compute="_compute_csp_can_assign_licence",
        help="The contact is a Microsoft user of a connection that manages licences from Odoo.",
    )

    def _csp_licence_users(self):
        """The Microsoft users this contact is, in tenants whose connection manages
        licences from Odoo."""
        return self.env["csp.user.binding"].search(
            [("partner_id", "in", self.ids), ("removed", "=", False),
             ("connection_id.manage_licences", "=", True)]
        )  # fmt: skip

    @api.depends_context("uid")
    def _compute_csp_can_assign_licence(self):
        Binding = self.env["csp.user.binding"]
        users = self._csp_licence_users() if Binding.has_access("read") else Binding
        for partner in self:
            partner.csp_can_assign_licence = partner in users.partner_id

    @api.depends_context("uid")
    def _compute_csp_licence_counts(self):
        def counts(model, field, extra=()):
            if not self.env[model].has_access("read"):
                return {}
            groups = self.env[model]._read_group(
                [(field, "in", self.ids), *extra], [field], ["__count"]
            )
            return {partner.id: count for partner, count in groups}

        skus = counts(
            "csp.subscribed.sku", "partner_id", [("removed", "=", False), ("free_kind", "=", False)]
        )
        subscriptions = counts(
            "csp.subscription", "partner_id", [("removed", "=", False), ("free_kind", "=", False)]
        )
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

    def action_csp_assign_licence(self):
        """'Assign licence' on a contact: the wizard with this contact's Microsoft user,
        the licence to choose among its tenant's. A CSP manager only (checked before
        anything opens; Microsoft is asked when the wizard is confirmed)."""
        self.ensure_one()
        if not self.env.user.has_group("csp_connector.group_csp_manager"):
            raise AccessError(
                self.env._("Only a Microsoft CSP manager may assign licences in Microsoft.")
            )
        users = self._csp_licence_users()
        if not users:
            raise UserError(
                self.env._(
                    "%s is no Microsoft user of a tenant whose connection manages licences "
                    "from Odoo: import the tenant's users, and turn on 'Manage licences from "
                    "Odoo' on the connection's Licences tab.",
                    self.display_name,
                )
            )
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_licence_assign_action",
            context={"default_user_binding_id": users[:1].id},
            name=self.env._("Assign a licence to %s", self.name),
        )
