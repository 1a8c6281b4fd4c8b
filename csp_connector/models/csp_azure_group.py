# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import json

from odoo import api, fields, models

from ..microsoft import errors
from ..microsoft.graph import ReadCheck
from .csp_sync_run import out_of_time


class CspAzureGroup(models.Model):
    """An Entra ID group of a customer tenant, kept (with its members) from groups delta
    because site mappings and value mappings filter users by group."""

    _name = "csp.azure.group"
    _description = "Microsoft CSP Azure Group"
    _order = "name, id"

    tenant_ref_id = fields.Many2one(
        "csp.tenant", string="Tenant", required=True, ondelete="cascade", index=True
    )
    connection_id = fields.Many2one(related="tenant_ref_id.connection_id", store=True)
    company_id = fields.Many2one(related="tenant_ref_id.company_id", store=True)
    object_id = fields.Char(string="Object ID", required=True)
    name = fields.Char(required=True)
    member_ids_json = fields.Text(default="[]")
    member_count = fields.Integer(compute="_compute_member_count")

    _sql_constraints = [
        ("group_unique", "unique(tenant_ref_id, object_id)", "A group appears once per tenant."),
    ]

    @api.depends("member_ids_json")
    def _compute_member_count(self):
        for group in self:
            group.member_count = len(json.loads(group.member_ids_json or "[]"))

    @api.depends("name", "tenant_ref_id")
    def _compute_display_name(self):
        for group in self:
            group.display_name = f"{group.name} ({group.tenant_ref_id.name})"

    @api.model
    def _csp_memberships(self, tenant):
        """{user object id: set of group object ids} for the tenant."""
        memberships = {}
        for group in self.search([("tenant_ref_id", "=", tenant.id)]):
            for member in json.loads(group.member_ids_json or "[]"):
                memberships.setdefault(member, set()).add(group.object_id)
        return memberships

    @api.model
    def _csp_sync_groups(self, tenant, graph):
        """Apply groups delta (names and members@delta); a 410 restarts from scratch.

        Returns False when the round stopped at a page boundary, out of time (it goes
        on from there at the next call), True when it is complete."""
        resumed = bool(tenant._csp_round_get("groups"))
        try:
            return self._csp_groups_round(tenant, graph, tenant.groups_delta_link)
        except errors.MicrosoftError as exc:
            if not (tenant.groups_delta_link or resumed) or not is_resync(exc):
                raise
            tenant.message_post(body=self.env._("Groups delta expired: all groups are read again."))
            tenant._csp_round_drop("groups")
            return self._csp_groups_round(tenant, graph, None)

    def _csp_groups_round(self, tenant, graph, link):
        existing = {g.object_id: g for g in self.search([("tenant_ref_id", "=", tenant.id)])}
        resume = tenant._csp_round_get("groups")
        full = resume["full"] if resume else not link
        if resume:
            pages = graph.iter_pages(resume["next"])
        elif link:
            pages = graph.iter_pages(link)
        else:
            pages = graph.iter_pages(
                "v1.0/groups/delta", params={"$select": "id,displayName,members"}
            )
        new_link = None
        # groups met in this round: a large group's members@delta is split over several
        # entries (and pages), each adding to what the round already has
        seen = set(resume.get("seen") or ()) if resume else set()
        check = ReadCheck(**resume["check"]) if resume else ReadCheck(delta=True)
        for page in pages:
            for item in check.page(page):
                if not isinstance(item, dict) or not item.get("id"):
                    continue
                self._csp_apply_group(tenant, item, existing, full=full, seen=seen)
                seen.add(item["id"])
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
        if full:  # a full round: groups not listed are gone
            self.browse([g.id for oid, g in existing.items() if oid not in seen]).unlink()
        tenant._csp_store_delta_link("groups", new_link, changed=bool(seen), force=full)
        tenant._csp_round_drop("groups")
        return True

    def _csp_apply_group(self, tenant, item, existing, full, seen=()):
        group = existing.get(item["id"])
        if "@removed" in item:  # "changed" (soft-deleted) or "deleted": no members either way
            if group:
                existing.pop(item["id"]).unlink()
            return
        again = item["id"] in seen  # more of a group this round already read
        if group and (again or not full):
            members = set(json.loads(group.member_ids_json or "[]"))
        else:
            members = set()
        for member in item.get("members@delta") or []:
            if "@removed" in member:
                members.discard(member["id"])
            else:
                members.add(member["id"])
        values = {"member_ids_json": json.dumps(sorted(members))}
        if item.get("displayName"):
            values["name"] = item["displayName"]
        if group is None:
            values.setdefault("name", item["id"])
            existing[item["id"]] = self.create(
                {**values, "tenant_ref_id": tenant.id, "object_id": item["id"]}
            )
        elif any(group[key] != value for key, value in values.items()):
            group.write(values)


def is_resync(error):
    """Graph's answers for a delta token it no longer knows (410, or 400 on some APIs)."""
    code = (error.code or "").lower()
    return error.status == 410 or code in ("syncstatenotfound", "resyncrequired")
