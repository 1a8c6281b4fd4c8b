# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import json

from odoo import api, fields, models

from ..importers.groups import GroupsRead


class CspAzureGroup(models.Model):
    """An Entra ID group of a customer tenant, kept (with its members) from groups delta
    because site mappings and value mappings filter users by group."""

    _name = "csp.azure.group"
    _inherit = "csp.binding.mixin"
    _description = "Microsoft CSP Azure Group"
    _order = "name, id"

    name = fields.Char(required=True)
    member_ids_json = fields.Text(default="[]")
    member_count = fields.Integer(compute="_compute_member_count")

    @api.depends("member_ids_json")
    def _compute_member_count(self):
        for group in self:
            group.member_count = len(json.loads(group.member_ids_json or "[]"))

    @api.depends("name", "csp_tenant_id")
    def _compute_display_name(self):
        for group in self:
            group.display_name = f"{group.name} ({group.csp_tenant_id.name})"

    @api.model
    def _csp_memberships(self, tenant):
        """{user object id: set of group object ids} for the tenant (groups still in
        Microsoft)."""
        memberships = {}
        for group in self.search([("csp_tenant_id", "=", tenant.id), ("removed", "=", False)]):
            for member in json.loads(group.member_ids_json or "[]"):
                memberships.setdefault(member, set()).add(group.microsoft_id)
        return memberships

    @api.model
    def _csp_sync_groups(self, tenant, graph):
        """Apply groups delta (names and members@delta, importers/groups.py); an
        expired delta link reads every group again.

        Returns False when the round stopped at a page boundary, out of time (it goes
        on from there at the next call), True when it is complete."""
        return GroupsRead(self, tenant).run(graph)
