# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The user import: Azure users of one tenant -> contacts and csp.user.binding.

ORM-aware orchestration (not a model): reads pages from Graph (microsoft/), decides
with the plain rules of sync/users.py, and writes contacts and bindings through the
binding base's routine (importer.BindingImporter), of which UserImporter is a
specialisation.
"""

import json
import logging

from odoo.tools import SQL

from ..microsoft import errors
from ..microsoft.dates import odoo_datetime
from ..microsoft.graph import ReadCheck, read_delta
from ..microsoft.safe_text import one_line
from ..sync import users as user_rules
from .csp_guard import CONTEXT_KEY as CODE_WRITE_KEY
from .csp_guard import code_env
from .csp_sync_run import out_of_time as _out_of_time
from .importer import BindingImporter, Planned

_logger = logging.getLogger(__name__)

NOT_PREMIUM = "authentication_requestfromnonpremiumtenantorb2ctenant"


class UserImporter(BindingImporter):
    """One tenant's user sync (a full or delta round, resumable at page boundaries),
    on the binding base's routine (importer.BindingImporter) with the user's hooks:
    existing contacts matched by e-mail or UPN, new ones named from the user, moves
    written before the other values, the user's Microsoft values kept for the next
    delta (graph_values), archives held until the round is complete and then past the
    safety valve, portal access for the users a mapping grants it to."""

    target_first = ("parent_id",)  # moves first: then the mapped address values stay
    target_context = {"tracking_disable": True}
    defer_archives = True

    def __init__(self, bindings, tenant):
        super().__init__(bindings, tenant)
        self.env = bindings.env
        self.context = None  # _SyncContext, read once per run
        self.full = False
        self.page_users = {}  # object id -> user, of the page being applied

    def run(self, http):
        """Full or delta import of the tenant's users. Returns the run counters."""
        tenant = self.tenant
        if tenant.mapping_state != "mapped":
            return self.counters
        graph = tenant.connection_id._csp_graph(http, tenant.tenant_id)
        context = self.context = _SyncContext(self.env, tenant)
        # groups are read on the first run (so that mappings can choose among them) and
        # then followed by delta only while a mapping filters or sets values by group
        groups_due = context.needs_groups or not tenant.groups_delta_link or tenant.groups_round
        if groups_due and not self.env["csp.azure.group"]._csp_sync_groups(tenant, graph):
            return {**self.counters, "paused": True}  # out of time: the step resumes
        if context.needs_groups:
            context.memberships = self.env["csp.azure.group"]._csp_memberships(tenant)
        resumed = bool(tenant._csp_round_get("users"))

        def expired():
            _logger.info("CSP: users delta of %s expired, full resync", tenant.tenant_id)
            tenant.message_post(
                body=self.env._("The users delta link expired: all users are read again.")
            )
            tenant._csp_round_drop("users")

        complete = read_delta(
            lambda link: self.users_round(graph, link),
            tenant.users_delta_link,
            expired,
            resumed=resumed,
        )
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

    def users_round(self, graph, link):
        """One full (no `link`) or delta round of the tenant's users.

        Nothing is archived, and the delta link is not replaced, until the round has
        read Graph's final page (see ReadCheck); archives then pass the safety valve.
        Out of time (a scheduled run's budget), the round stops at a page boundary and
        keeps where it was on the tenant; the next call goes on from there. Returns
        False when it stopped so, True when the round is complete.
        """
        tenant, context = self.tenant, self.context
        resume = tenant._csp_round_get("users") or {}
        if resume:
            context.sign_in = resume["sign_in"]
        select = context.select()
        self.full = full = resume["full"] if resume else not link
        context.graph, context.delta = graph, not full
        self.seen = set(resume.get("seen") or ())
        self.pending = set(resume.get("archive") or ())
        self.present = set()
        self.written = bool(resume.get("changed"))
        try:
            if resume:
                check = ReadCheck(**resume["check"])
                new_link = resume.get("delta_link")
                pages = graph.users_delta(resume["next"])
            elif link:
                check = ReadCheck(delta=True)
                pages = graph.users_delta(link)
                new_link = None
            else:
                check = ReadCheck(delta=False)
                # the link is taken first: changes made while we read come again next time
                new_link = graph.users_delta_latest(select)
                # with $count: how many users the pages must hold (proof of a complete read)
                pages = graph.users(select, _users_page_size(self.env))
            for page in pages:
                self.apply_page([u for u in check.page(page) if context.valid_entry(u)])
                new_link = page.get("@odata.deltaLink") or new_link
                following = page.get("@odata.nextLink")
                if following and _out_of_time(self.env):
                    tenant._csp_round_keep(
                        "users",
                        {"next": following, "full": full, "sign_in": context.sign_in,
                         "check": check.state(), "delta_link": new_link,
                         "changed": self.written, "seen": sorted(self.seen) if full else [],
                         "archive": sorted(self.pending)},
                    )  # fmt: skip
                    return False
            check.finish("the tenant's users")
        except errors.MicrosoftError as exc:
            if not context.sign_in or (exc.code or "").lower() != NOT_PREMIUM:
                raise
            tenant.message_post(body=exc.user_message())
            context.sign_in = False  # the others still import, without last sign-in
            tenant._csp_round_drop("users")
            return self.users_round(graph, link)
        if full:  # also without archives: a user left out would never come by delta
            self.confirm_missing(graph)
        if full and tenant.connection_id.user_deactivate_missing:
            self.archive_missing(complete=True)  # deferred: joins the pending archives
        self.archive_pending()
        # after a full round (a reset, or a 410) the new link is kept even when nothing
        # changed: the expired one would answer 410 again
        tenant._csp_store_delta_link("users", new_link, changed=self.written, force=full)
        tenant._csp_round_drop("users")
        return True

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
        duplicated (see _SyncContext.match_existing)."""
        return self.context.match_existing(
            [self.page_users[i] for i in microsoft_ids], self.protected
        )

    def _new_target(self, plan):
        """A new contact: named from the user when no mapping gives a name."""
        return {"name": user_rules.built_name(self.page_users[plan.microsoft_id]), **plan.target}


def select_for(env, tenant):
    """$select of a users read of `tenant`: only what its mappings and filters read."""
    return _SyncContext(env, tenant).select()


def _users_page_size(env):
    """Users per page of a full read (system parameter, Graph's maximum 999 by default)."""
    value = env["ir.config_parameter"].sudo().get_param("csp_connector.users_page_size")
    return max(1, min(int(value), 999)) if value and value.isdigit() else 999


def _graph_json(user):
    return json.dumps(user, sort_keys=True, separators=(",", ":"), default=str)


def _binding_values(user, decision, with_sign_in):
    """The binding's own values (its fingerprint is the decision's: the importer adds it)."""
    licences = sorted(lic.get("skuId") for lic in user.get("assignedLicenses") or [])
    values = {
        "upn": user_rules.text_value(user.get("userPrincipalName")) or False,
        "mail": user_rules.text_value(user.get("mail")) or False,
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


class _SyncContext:
    """What a tenant's user sync needs, read once per tenant (not per user)."""

    def __init__(self, env, tenant):
        self.env = env
        self.tenant = tenant
        connection = tenant.connection_id
        self.connection = connection
        # connection-wide parts are read once per run (memo in the run's context)
        memo = env.context.get("csp_run_memo")
        key = ("users", connection.id)
        if memo is None or key not in memo:
            shared = self._connection_parts(env, connection)
            if memo is not None:
                memo[key] = shared
        else:
            shared = memo[key]
        rules, self.field_mappings, self.converters, sites_by_value = shared
        self.mappings = [r for r in rules if not r.tenant_ids or tenant.tenant_id in r.tenant_ids]
        self.needs_groups = any(
            m.group_ids or any(v.group_id for v in m.values) for m in self.mappings
        )
        self.memberships = {}
        self.graph = None
        self.delta = False  # reading a delta round: entries may carry only changes
        self.refused = []  # explanations of the users that could not be imported
        self.notes = []  # entries left out on purpose, explained (not errors)
        self.dropped = 0
        self.sign_in = connection.user_import_sign_in
        self.options = {
            "licence_rule": connection.user_licence_rule,
            "licence_skus": frozenset((connection.user_licence_skus or "").split()),
            "active_follows_account": connection.user_active_follows_account,
            "sites_by_value": sites_by_value,
        }

    @staticmethod
    def _connection_parts(env, connection):
        mappings = connection.site_mapping_ids.sorted(lambda m: (m.sequence, m.id))
        field_mappings = [(f.azure_field, f.field_name) for f in connection.field_mapping_ids]
        converters = env["csp.field.mapping"]._csp_converters([o for _a, o in field_mappings])
        sites_by_value = {
            m.id: m._csp_sites_by_value() for m in mappings if m.kind == user_rules.KIND_MATCH
        }
        return [m._csp_rule() for m in mappings], field_mappings, converters, sites_by_value

    def select(self):
        """$select of only what the mappings and filters read."""
        return user_rules.select_for(
            self.field_mappings,
            self.mappings,
            with_sign_in=self.sign_in,
            everything=self.connection.user_delta_method == "all",
        )

    def decide(self, user):
        return user_rules.decide(
            self.tenant.tenant_id,
            user,
            self.mappings,
            self.field_mappings,
            self.memberships.get(user["id"], set()),
            self.options,
            self.converters,
        )

    def valid_entry(self, entry):
        """A page entry is a user when it has an id; others are counted, not read."""
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
            return True
        self.refused.append(
            self.env._("An entry without an object id was left out: %s", one_line(entry, 200))
        )
        return False

    def known_users(self, entries, bindings):
        """The page's users as now known: each delta entry merged into what its binding
        last stored (absent properties keep their value, null clears). A partial entry
        of a user no binding knows (never imported, filtered out) is completed by
        reading that user from Graph."""
        users, unknown = [], []
        for entry in entries:
            if "@removed" in entry:
                continue
            binding = bindings.get(entry["id"])
            known = None
            if self.delta and binding and binding.graph_values:
                known = json.loads(binding.graph_values)
            if self.delta and known is None and user_rules.is_partial(entry):
                unknown.append(entry)
                continue
            users.append(user_rules.merge_entry(known, entry))
        if unknown:
            users.extend(self._complete(unknown))
        return users

    def _complete(self, entries):
        """Whole users for partial entries (Graph.users_by_ids)."""
        found = {
            u["id"]: u for u in self.graph.users_by_ids([e["id"] for e in entries], self.select())
        }
        # a user gone meanwhile comes as a removal in a later round: counted and said
        dropped = [e["id"] for e in entries if e["id"] not in found]
        if dropped:
            self.dropped += len(dropped)
            self.notes.append(
                self.env._(
                    "%(count)s changed users named by Graph's delta could not be read by "
                    "object id (%(ids)s) and were left out: deleted meanwhile (their removal "
                    "comes with a later round), or no longer visible to the GDAP app. If "
                    "they stay missing, check the app's User.Read.All permission.",
                    count=len(dropped),
                    ids=", ".join(one_line(i, 40) for i in dropped[:5]),
                )
            )
        return [user_rules.merge_entry(found[e["id"]], e) for e in entries if e["id"] in found]

    def refuse(self, user, exc):
        """Count and explain a user that could not be imported; the others go on."""
        who = one_line(user.get("userPrincipalName") or user.get("mail") or user.get("id"), 200)
        _logger.warning("CSP: user %s of %s not imported: %s", who, self.tenant.tenant_id,
                        one_line(exc, 300))  # fmt: skip
        self.refused.append(
            self.env._(
                "User %(who)s (object id %(id)s) was not imported: %(error)s. Likely cause: "
                "a value Odoo cannot store (check this user's properties in Entra ID and "
                "the field mappings). The tenant's other users were imported.",
                who=who,
                id=one_line(user.get("id"), 60),
                error=one_line(exc, 300),
            )
        )

    def resolve_sites(self, decisions):
        """{(customer id, value): site id}, creating the sites that do not exist yet."""
        wanted = {(d.customer_id, d.site_value) for d in decisions if d.site_value}
        if not wanted:
            return {}
        Partner = self.env["res.partner"].with_context(tracking_disable=True)  # as contacts
        customers = {customer for customer, _value in wanted}
        found = {}
        sites = Partner.search_fetch(
            [("parent_id", "in", list(customers)), ("type", "=", "other")], ["name", "parent_id"]
        )
        for site in sites:
            found.setdefault((site.parent_id.id, (site.name or "").lower()), site.id)
        result, missing = {}, []
        for customer, value in wanted:
            site_id = found.get((customer, value.lower()))
            if site_id:
                result[(customer, value)] = site_id
            else:
                missing.append((customer, value))
        if missing:
            created = Partner.create(
                [{"name": value, "parent_id": customer, "type": "other"}
                 for customer, value in missing]
            )  # fmt: skip
            result.update(zip(missing, created.ids, strict=True))
        return result

    def match_existing(self, users, protected):
        """{object id: contact id} for users an existing contact already stands for
        (`protected`: contacts of Odoo users and companies, found to be skipped)."""
        field = self.connection.user_match_field
        if not users or not self.tenant.partner_id:
            return {}
        if field == "object_id":
            if self.tenant.users_delta_link:
                return {}
            # a first (full) import binds the customer's contact with the user's e-mail
            # instead of duplicating it; afterwards only object ids count
            field = "email"
        key = "mail" if field == "email" else "userPrincipalName"
        by_value = {(u.get(key) or "").lower(): u["id"] for u in users if u.get(key)}
        if not by_value:
            return {}
        # contacts bound already (a subquery; protected ones are found, then skipped
        # and counted)
        bound = self.env["csp.user.binding"]._search(
            [("connection_id", "=", self.connection.id), ("partner_id", "!=", False),
             ("partner_id", "not in", list(protected))]
        )  # fmt: skip
        contacts = self.env["res.partner"].search(
            [
                ("commercial_partner_id", "=", self.tenant.partner_id.commercial_partner_id.id),
                ("email_normalized", "in", list(by_value)),
                ("id", "not in", bound.subselect(SQL.identifier(bound.table, "partner_id"))),
                ("is_company", "=", False),
            ]
        )
        matches = {}
        for contact in contacts:
            object_id = by_value.get(contact.email_normalized)
            if object_id and object_id not in matches:
                matches[object_id] = contact.id
        return matches

    def grant_portal(self, bindings):
        """Portal users for contacts this sync created or bound (bindings are written by
        the sync only), never for a contact that already has a user; the access the sync
        revoked when a user left comes back with the user. With the portal group only,
        so sudo: the integrator itself may not create users."""
        bindings._csp_restore_portal()
        portal = self.env.ref("base.group_portal")
        partner_ids = bindings.partner_id.ids
        protected = self.env["res.partner"]._csp_protected_ids(partner_ids)
        partners = self.env["res.partner"].browse([p for p in partner_ids if p not in protected])
        partners = partners.filtered(lambda p: p.email and p.active)
        if not partners:
            return
        users = (
            self.env["res.users"]
            .sudo()
            .with_context(no_reset_password=True, **{CODE_WRITE_KEY: False})
            .create(
                [{"name": p.name, "login": p.email, "partner_id": p.id,
                  "groups_id": [(6, 0, [portal.id])]} for p in partners]
            )
        )  # fmt: skip
        by_partner = {user.partner_id.id: user.id for user in users}
        for binding in bindings.filtered(lambda b: b.partner_id.id in by_partner):
            code_env(binding).write({"portal_user_id": by_partner[binding.partner_id.id]})
