# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The user import: Azure users of one tenant -> contacts and csp.user.binding.

ORM-aware orchestration (not a model): reads pages from Graph (microsoft/), decides
with the plain rules of sync/users.py, and writes contacts and bindings through the
binding base's routine (importers/binding.py, BindingImporter), of which UserImporter is a
specialisation.
"""

import json
import logging

from ..microsoft import errors
from ..microsoft.dates import odoo_datetime
from ..microsoft.graph import ReadCheck
from ..sync import filters
from ..sync import users as user_rules
from .binding import BindingImporter, Planned
from .paged_read import PagedRead
from .user_context import UserSyncContext

_logger = logging.getLogger(__name__)

NOT_PREMIUM = "authentication_requestfromnonpremiumtenantorb2ctenant"


class UserImporter(BindingImporter, PagedRead):
    """One tenant's user sync (a full or delta round, resumable at page boundaries),
    on the binding base's routine (importers/binding.py, BindingImporter) with the user's hooks:
    existing contacts matched by e-mail or UPN, new ones named from the user, moves
    written before the other values, the user's Microsoft values kept for the next
    delta (graph_values), archives held until the round is complete and then past the
    safety valve, portal access for the users a mapping grants it to."""

    target_first = ("parent_id",)  # moves first: then the mapped address values stay
    target_context = {"tracking_disable": True}
    defer_archives = True
    kind = "users"  # the tenant's round store
    what = "the tenant's users"

    def __init__(self, bindings, tenant):
        super().__init__(bindings, tenant)
        self.env = bindings.env
        self.context = None  # UserSyncContext, read once per run
        self.full = False
        self.page_users = {}  # object id -> user, of the page being applied

    def run(self, http):
        """Full or delta import of the tenant's users. Returns the run counters."""
        tenant = self.tenant
        if tenant.mapping_state != "mapped":
            return self.counters
        graph = tenant.connection_id._csp_graph(http, tenant.tenant_id)
        context = self.context = UserSyncContext(self.env, tenant)
        # groups are read on the first run (so that mappings can choose among them) and
        # then followed by delta only while a mapping filters or sets values by group
        groups_due = (
            context.needs_groups or not tenant.groups_delta_link or tenant._csp_round_get("groups")
        )
        if groups_due and not self.env["csp.azure.group"]._csp_sync_groups(tenant, graph):
            return {**self.counters, "paused": True}  # out of time: the step resumes
        if context.needs_groups:
            context.memberships = self.env["csp.azure.group"]._csp_memberships(tenant)

        def expired():
            _logger.info("CSP: users delta of %s expired, full resync", tenant.tenant_id)
            tenant.message_post(
                body=self.env._("The users delta link expired: all users are read again.")
            )

        complete = self.read_delta(graph, tenant.users_delta_link, expired)
        counters = dict(self.counters)
        if context.refused:
            counters["errors"] = len(context.refused)
        if context.dropped:
            counters["skipped"] = counters.get("skipped", 0) + context.dropped
        if context.refused or context.notes:
            counters["message"] = "\n".join([*context.refused[:20], *context.notes[:5]])
        if not complete:
            counters["paused"] = True  # out of time: the run resumes this step
        return counters

    # -- the paged read's hooks (importers/paged_read.py) -------------------------------

    def read_round(self, graph, link=None):
        """One full (no `link`) or delta round of the tenant's users, on the one
        resumable paged read.

        Nothing is archived, and the delta link is not replaced, until the round has
        read Graph's final page (see ReadCheck); archives then pass the safety valve.
        Out of time (a scheduled run's budget), the round stops at a page boundary and
        keeps where it was on the tenant; the next call goes on from there. Returns
        False when it stopped so, True when the round is complete.
        """
        # a round's own state, before it starts or resumes
        self.seen, self.pending, self.present, self.written = set(), set(), set(), False
        self.context.graph = graph
        try:
            return super().read_round(graph, link)
        except errors.MicrosoftError as exc:
            if not self.context.sign_in or (exc.code or "").lower() != NOT_PREMIUM:
                raise
            self.tenant.message_post(body=exc.user_message())
            self.context.sign_in = False  # the others still import, without last sign-in
            self.tenant._csp_round_drop("users")
            return self.read_round(graph, link)

    def resume(self, state):
        context = self.context
        if state:
            context.sign_in = state["sign_in"]
            self.seen = set(state.get("seen") or ())
            self.pending = set(state.get("archive") or ())
            self.written = bool(state.get("changed"))
        self.full = state["full"] if state else not self.link
        context.delta = not self.full

    def state(self):
        return {
            "full": self.full,
            "sign_in": self.context.sign_in,
            "changed": self.written,
            "seen": sorted(self.seen) if self.full else [],
            "archive": sorted(self.pending),
        }

    def start(self, graph, link):
        if link:
            return ReadCheck(delta=True), graph.users_delta(link)
        select = self.context.select()
        # the link is taken first: changes made while we read come again next time
        self.new_link = graph.users_delta_latest(select)
        # with $count: how many users the pages must hold (proof of a complete read)
        return ReadCheck(delta=False), graph.users(select, _users_page_size(self.env))

    def complete(self, graph):
        if self.full:  # also without archives: a user left out would never come by delta
            self.confirm_missing(graph)
        if self.full and self.tenant.connection_id.user_deactivate_missing:
            self.archive_missing(complete=True)  # deferred: joins the pending archives
        self.archive_pending()
        # after a full round (a reset, or a 410) the new link is kept even when nothing
        # changed: the expired one would answer 410 again
        self.tenant._csp_store_delta_link(
            "users", self.new_link, changed=self.written, force=self.full
        )

    def confirm_missing(self, graph):
        """A full read ends on Graph's final page with an ``@odata.count`` its pages
        reach; but Graph serves that count eventually consistent, so a stale count can
        agree with a page cut short. Before a full read archives anyone, the users it
        did not list are read again by object id (Graph.users_by_ids): one of them still
        there proves the read missed it, and nothing is archived nor the delta link
        replaced (IncompleteReadError: the step fails, explained; the next run reads
        again)."""
        missing = self.model.search(
            [("csp_tenant_id", "=", self.tenant.id), ("removed", "=", False),
             ("microsoft_id", "not in", list(self.seen))]
        ).mapped("microsoft_id")  # fmt: skip
        if not missing:
            return
        still = [user.get("id") for user in graph.users_by_ids(missing, "id")]
        if still:
            raise errors.IncompleteReadError(
                f"Graph's list of the users of {self.tenant.name} left out {len(still)} "
                f"users that still exist (read again by id: {', '.join(still[:5])}), "
                "although its count agreed with its pages: the answer was cut short. "
                "Nothing was archived and the delta link was kept.",
                service="graph",
                tenant=self.tenant.tenant_id,
            )

    def _archive(self, bindings):
        """Archive what a complete round found gone, unless the safety valve holds it
        (too large a share of the tenant's users: a person confirms). Called once per
        complete round, also with nothing to archive (held users listed again are no
        longer waiting)."""
        tenant = self.tenant
        held_before = tenant._csp_held_ids()
        held = [
            i for i in held_before
            if i not in self.present and (not self.full or i in self.pending)
        ]  # fmt: skip
        archived = False
        if bindings and tenant._csp_archive_allowed(len(bindings)):
            archived = super()._archive(bindings)
            held = [i for i in held if i not in bindings.ids]
        elif bindings:
            held = sorted(set(held) | set(bindings.ids))
            self.counters["held"] = self.counters.get("held", 0) + len(bindings)
        if held != held_before:
            tenant._csp_hold_archive(self.model.browse(held), new=len(held) > len(held_before))
        return archived

    def apply_page(self, users):
        """Apply one page of users (entries of a full read or of a delta round)."""
        context = self.context
        users = [u for u in users if context.valid_entry(u)]
        bindings = self.model._csp_bindings(self.tenant, [u["id"] for u in users])
        if self.full:
            self.seen.update(u["id"] for u in users)
        removed = [bindings[u["id"]] for u in users if "@removed" in u and u["id"] in bindings]
        # archives wait for the end of the round (proof of a complete read, safety valve)
        if removed and self.tenant.connection_id.user_deactivate_missing:
            self.pending.update(binding.id for binding in removed)
        reasons = {u["id"]: (u.get("@removed") or {}).get("reason") for u in users}
        gone = [b for b in removed if reasons.get(b.microsoft_id) == "deleted"]
        if gone:  # deleted for good: nothing left to merge a later entry into
            self.model.union(*gone).filtered("graph_values").write({"graph_values": False})
        decisions, skipped_values = [], []
        for user in context.known_users(users, bindings):
            try:
                decision = context.decide(user)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                context.refuse(user, exc)
                continue
            binding = bindings.get(user["id"])
            if decision.skip_reason:
                self.counters["skipped"] += 1
                if binding:
                    skipped_values.append((binding, {"graph_values": _graph_json(user)}))
                if binding and not binding.removed:
                    self.pending.add(binding.id)
                continue
            if binding:
                self.present.add(binding.id)
                self.pending.discard(binding.id)
            decisions.append((user, decision))
        self.write_bindings(
            [(b, v) for b, v in skipped_values if b.graph_values != v["graph_values"]]
        )
        self.apply_safely(decisions, bindings)

    def apply_safely(self, decisions, bindings):
        """The page's writes in bulk; when the bulk write fails, each user alone, so that
        one user's data cannot stop the tenant's others (it is counted and explained)."""
        if not decisions or self._attempt(decisions, bindings) is None:
            return
        _logger.info("CSP: a user of %s could not be written, retrying one by one",
                     self.tenant.tenant_id)  # fmt: skip
        for user, decision in decisions:
            failure = self._attempt([(user, decision)], bindings)
            if failure is not None:  # one user's data, explained on the run
                self.context.refuse(user, failure)

    def _attempt(self, decisions, bindings):
        """apply_decisions in a savepoint; returns the exception that undid it, or None."""
        counters, written = dict(self.counters), self.written
        try:
            with self.env.cr.savepoint():
                self.apply_decisions(decisions, bindings)
        except Exception as exc:  # undone; the caller explains it
            self.env.invalidate_all()
            self.counters, self.written = counters, written
            return exc
        return None

    def apply_decisions(self, decisions, bindings):
        """Users and their decisions, through the binding base's routine."""
        context = self.context
        sites = context.resolve_sites(d for _u, d in decisions)
        self.page_users = {user["id"]: user for user, _d in decisions}
        plans = []
        for user, decision in decisions:
            contact = {
                **decision.values,
                "parent_id": sites.get((decision.customer_id, decision.site_value),
                                       decision.parent_id),
            }  # fmt: skip
            if decision.tag_ids:
                contact["category_id"] = [(6, 0, list(decision.tag_ids))]
            plans.append(
                Planned(
                    user["id"],
                    _binding_values(user, decision, context.sign_in),
                    contact,
                    user_rules.fingerprint(decision),
                )
            )
        self.apply(plans, bindings)
        portal = {d.object_id for _u, d in decisions if d.portal}
        if portal:
            context.grant_portal(
                self.model.search(
                    [("csp_tenant_id", "=", self.tenant.id), ("microsoft_id", "in", list(portal))]
                )
            )

    # -- the binding base's hooks ---------------------------------------------------------

    def _match(self, microsoft_ids):
        """Existing contacts (same e-mail or UPN) of the customer, bound instead of
        duplicated (see UserSyncContext.match_existing)."""
        return self.context.match_existing(
            [self.page_users[i] for i in microsoft_ids], self.protected
        )

    def _new_target(self, plan):
        """A new contact: named from the user when no mapping gives a name, in its
        parent's language (what res.partner.create would copy from the parent with one
        write per contact, given here with the values: the same language, no write)."""
        values = {"name": user_rules.built_name(self.page_users[plan.microsoft_id]), **plan.target}
        if values.get("parent_id") and "lang" not in values:
            env = self.targets.env
            parent = self.targets.browse(values["parent_id"])
            values["lang"] = parent.lang or env.context.get("default_lang") or env.lang
        return values


def select_for(env, tenant):
    """$select of a users read of `tenant`: only what its mappings and filters read."""
    return UserSyncContext(env, tenant).select()


def _users_page_size(env):
    """Users per page of a full read (system parameter, Graph's maximum 999 by default)."""
    return env["ir.config_parameter"]._csp_int("csp_connector.users_page_size", 999, high=999)


def _graph_json(user):
    return json.dumps(user, sort_keys=True, separators=(",", ":"), default=str)


def _binding_values(user, decision, with_sign_in):
    """The binding's own values (its fingerprint is the decision's: the importer adds it)."""
    licences = sorted(lic.get("skuId") for lic in user.get("assignedLicenses") or [])
    values = {
        "upn": filters.text_value(user.get("userPrincipalName")) or False,
        "mail": filters.text_value(user.get("mail")) or False,
        "account_enabled": bool(user.get("accountEnabled", True)),
        "external": user_rules.is_external(user),
        "licensed": bool(licences),
        "sku_ids": " ".join(licences) or False,
        "mapping_id": decision.mapping_id,
        "graph_values": _graph_json(user),
    }
    if with_sign_in:
        activity = user.get("signInActivity") or {}
        values["last_sign_in"] = odoo_datetime(activity.get("lastSignInDateTime")) or False
    return values
