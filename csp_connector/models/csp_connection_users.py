# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

from ..sync import users as user_rules
from .csp_sync_step import CspStep


class CspConnection(models.Model):
    """The connection's user import settings: mappings and options."""

    _inherit = "csp.connection"

    sync_users = fields.Boolean(
        string="Import Users",
        default=True,
        help="Import the mapped tenants' Azure users as contacts.",
    )
    site_mapping_ids = fields.One2many("csp.site.mapping", "connection_id", string="Site Mappings")
    field_mapping_ids = fields.One2many(
        "csp.field.mapping", "connection_id", string="Field Mappings"
    )
    auto_site_mapping = fields.Boolean(
        string="Create a Site Mapping When a Tenant Is Mapped",
        help="Mapping a tenant to a customer adds a mapping of its users to that "
        "customer's main site.",
    )
    user_match_field = fields.Selection(
        [("object_id", "Azure object id"), ("email", "E-mail"), ("upn", "User principal name")],
        string="Match Users By",
        default="object_id",
        required=True,
        help="Existing contacts of the customer with the same e-mail (or UPN) are bound "
        "instead of duplicated. Azure object id: only users imported before are known.",
    )
    user_active_follows_account = fields.Boolean(
        string="Active Follows Account Enabled", default=True
    )
    user_deactivate_missing = fields.Boolean(
        string="Deactivate Users No Longer Found",
        default=True,
        help="Contacts of users deleted in Azure are archived, never deleted.",
    )
    user_import_sign_in = fields.Boolean(
        string="Import Last Sign-in",
        help="Needs Entra ID P1 in the customer's tenant; other tenants get a warning "
        "and import without it.",
    )
    user_licence_rule = fields.Selection(
        [
            ("none", "No licence check"),
            ("include", "Only users holding one of these licences"),
            ("exclude", "Exclude users holding these licences"),
        ],
        string="Licence Check",
        default="none",
        required=True,
    )
    user_licence_skus = fields.Char(
        string="Licence SKU IDs",
        help="skuIds (GUIDs) separated by spaces, as Microsoft Graph lists them.",
    )
    user_licence_names = fields.Char(
        string="Licences Checked", compute="_compute_user_licence_names",
        help="The licences of the SKU ids above, by their names.",
    )  # fmt: skip
    user_delta_method = fields.Selection(
        [("mapped", "Only fields that are mapped"), ("all", "All changes")],
        string="Delta Method",
        default="mapped",
        required=True,
        help="Only mapped fields: Graph is asked for (and reports changes of) the "
        "properties the mappings use. All changes: every user property.",
    )

    @api.depends("user_licence_skus")
    def _compute_user_licence_names(self):
        names = self.env["csp.sku.name"]._csp_names()
        for connection in self:
            skus = (connection.user_licence_skus or "").lower().split()
            connection.user_licence_names = (
                ", ".join(names.resolve(sku, None)[0] for sku in skus) or False
            )

    @api.model
    def _csp_sync_steps(self):
        return [
            *super()._csp_sync_steps(),
            CspStep("users", self.env._("Users"), "tenant", 20, "_csp_sync_users"),
        ]

    @api.model
    def _csp_permissions(self):
        return [
            *super()._csp_permissions(),
            (
                self.env._("Users"),
                ["User.Read.All", "Group.Read.All",
                 self.env._("AuditLog.Read.All (last sign-in, optional)")],
                [],
            ),
        ]  # fmt: skip

    @api.model_create_multi
    def create(self, vals_list):
        connections = super().create(vals_list)
        self.env["csp.field.mapping"]._csp_create_defaults(connections)
        return connections

    def action_generate_site_mappings(self):
        """One mapping per mapped tenant (not yet mapped) to its customer's main site."""
        for connection in self:
            mapped = connection.tenant_ids.filtered(lambda t: t.mapping_state == "mapped")
            (mapped - connection.site_mapping_ids.tenant_ids)._csp_create_site_mappings()
        return True

    def action_reset_users(self):
        self.tenant_ids.action_reset_users()
        return True

    def action_latest_users(self):
        self.tenant_ids.filtered(lambda t: t.mapping_state == "mapped").action_latest_users()
        return True


class CspTenant(models.Model):
    _inherit = "csp.tenant"

    def _csp_sync_users(self, http):
        """The users step: this tenant's Azure users to contacts."""
        return self.env["csp.user.binding"]._csp_sync_users(self, http)

    def action_import_users_now(self):
        """Queue a users run of this tenant's connection now (the integrator cron
        carries it out; a button never runs a sync in the web request)."""
        self.ensure_one()
        self._csp_check_can_sync()
        queue = self.env["csp.sync.run"]._csp_queue
        return queue(self.connection_id, ["users"], tenant=self)._csp_open()

    def _csp_create_site_mappings(self):
        return self.env["csp.site.mapping"].create(
            [
                {
                    "connection_id": tenant.connection_id.id,
                    "kind": user_rules.KIND_SITE,
                    "customer_id": tenant.partner_id.id,
                    "site_id": tenant.partner_id.id,
                    "tenant_ids": [(6, 0, tenant.ids)],
                    "description": self.env._("Users of %s", tenant.name),
                    "sequence": 100,
                }
                for tenant in self
            ]
        )

    def write(self, vals):
        newly_mapped = self.browse()
        if vals.get("partner_id"):
            newly_mapped = self.filtered(
                lambda t: not t.partner_id and t.connection_id.auto_site_mapping
            )
        result = super().write(vals)
        if newly_mapped:
            newly_mapped._csp_create_site_mappings()
        return result
