# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The groups read: groups delta of one tenant -> csp.azure.group, on the one
resumable paged read (paged_read.py) and the binding base's routine (binding.py);
the members@delta merge is plain data (sync/groups.py)."""

import json

from ..microsoft.graph import ReadCheck
from ..sync import groups as group_rules
from .binding import BindingImporter, Planned
from .paged_read import PagedRead


class GroupsRead(BindingImporter, PagedRead):
    """One tenant's groups delta round (a full round without a delta link): names and
    members; a full round archives the groups it did not list."""

    kind = "groups"  # the tenant's round store
    what = "the tenant's groups"

    def __init__(self, model, tenant):
        super().__init__(model, tenant)
        self.env = model.env
        self.full = False
        # groups met in this round: a large group's members@delta is split over
        # several entries (and pages), each adding to what the round already has
        self.met = set()

    def run(self, graph):
        """The round from the tenant's delta link; an expired link reads every group
        again. Returns False when it stopped at a page boundary, out of time (it goes
        on from there at the next call), True when it is complete."""
        tenant = self.tenant

        def expired():
            tenant.message_post(body=self.env._("Groups delta expired: all groups are read again."))

        return self.read_delta(graph, tenant.groups_delta_link, expired)

    # -- the paged read's hooks -----------------------------------------------------------

    def resume(self, state):
        self.full = state["full"] if state else not self.link
        self.met = set(state.get("seen") or ())
        self.seen = set(self.met)

    def state(self):
        return {"full": self.full, "seen": sorted(self.met)}

    def start(self, graph, link):
        return ReadCheck(delta=True), graph.groups_delta(link)

    def apply_page(self, items):
        items = [i for i in items if isinstance(i, dict) and i.get("id")]
        stored = {
            group_id: group_rules.StoredGroup(
                group.name, frozenset(json.loads(group.member_ids_json or "[]")), group.removed
            )
            for group_id, group in self.model._csp_bindings(
                self.tenant, {item["id"] for item in items}
            ).items()
        }
        planned, removed = group_rules.merge_page(items, stored, self.full, self.met)
        self.apply(
            Planned(group_id, {"name": name, "member_ids_json": json.dumps(members)})
            for group_id, (name, members) in planned.items()
        )
        self.remove(removed)

    def complete(self, graph):
        # only now: a read that did not reach Graph's final page removes nothing and
        # keeps the old link
        self.archive_missing(complete=self.full)  # a full round: groups not listed are gone
        self.tenant._csp_store_delta_link(
            "groups", self.new_link, changed=bool(self.met), force=self.full
        )
