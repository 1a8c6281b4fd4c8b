# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import json

from odoo import api, fields, models

from ..importers.binding import BindingImporter, Planned
from ..microsoft.graph import ReadCheck, read_delta
from .csp_sync_run import out_of_time


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
        """Apply groups delta (names and members@delta); an expired delta link reads
        every group again.

        Returns False when the round stopped at a page boundary, out of time (it goes
        on from there at the next call), True when it is complete."""
        resumed = bool(tenant._csp_round_get("groups"))

        def expired():
            tenant.message_post(body=self.env._("Groups delta expired: all groups are read again."))
            tenant._csp_round_drop("groups")

        return read_delta(
            lambda link: self._csp_groups_round(tenant, graph, link),
            tenant.groups_delta_link,
            expired,
            resumed=resumed,
        )

    def _csp_groups_round(self, tenant, graph, link):
        resume = tenant._csp_round_get("groups")
        full = resume["full"] if resume else not link
        pages = graph.groups_delta(resume["next"] if resume else link)
        importer = BindingImporter(self, tenant)
        new_link = None
        # groups met in this round: a large group's members@delta is split over several
        # entries (and pages), each adding to what the round already has
        seen = set(resume.get("seen") or ()) if resume else set()
        importer.seen.update(seen)
        check = ReadCheck(**resume["check"]) if resume else ReadCheck(delta=True)
        for page in pages:
            items = [i for i in check.page(page) if isinstance(i, dict) and i.get("id")]
            self._csp_apply_groups(importer, items, full, seen)
            new_link = page.get("@odata.deltaLink") or new_link
            following = page.get("@odata.nextLink")
            if following and out_of_time(self.env):
                tenant._csp_round_keep(
                    "groups",
                    {"next": following, "full": full, "seen": sorted(seen),
                     "check": check.state()},
                )  # fmt: skip
                return False
        # a read that did not reach Graph's final page removes nothing, keeps the old link
        check.finish("the tenant's groups")
        importer.archive_missing(complete=full)  # a full round: groups not listed are gone
        tenant._csp_store_delta_link("groups", new_link, changed=bool(seen), force=full)
        tenant._csp_round_drop("groups")
        return True

    def _csp_apply_groups(self, importer, items, full, seen):
        """One page of groups delta, through the binding base's importer."""
        stored = self._csp_bindings(importer.tenant, {item["id"] for item in items})
        planned, removed = {}, []
        for item in items:
            group_id = item["id"]
            if "@removed" in item:  # "changed" (soft-deleted) or "deleted": no members
                planned.pop(group_id, None)
                removed.append(group_id)
                seen.add(group_id)
                continue
            group = stored.get(group_id)
            before = planned.get(group_id)
            if before:  # the same group again in this page
                members = set(json.loads(before["member_ids_json"]))
            elif group and not group.removed and (group_id in seen or not full):
                members = set(json.loads(group.member_ids_json or "[]"))
            else:
                members = set()
            for member in item.get("members@delta") or []:
                if "@removed" in member:
                    members.discard(member["id"])
                else:
                    members.add(member["id"])
            name = item.get("displayName") or (before or {}).get("name")
            planned[group_id] = {
                "name": name or (group.name if group else group_id),
                "member_ids_json": json.dumps(sorted(members)),
            }
            seen.add(group_id)
        importer.apply(Planned(group_id, values) for group_id, values in planned.items())
        importer.remove([group_id for group_id in removed if group_id not in planned])
