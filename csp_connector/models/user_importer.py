# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The user import: Azure users of one tenant -> contacts and csp.user.binding.

ORM-aware orchestration (not a model): reads pages from Graph (microsoft/), decides
with the plain rules of sync/users.py, writes contacts and bindings in batches.
"""

import json
import logging
from collections import defaultdict

from odoo import fields
from odoo.tools import SQL

from ..microsoft import errors
from ..microsoft.dates import parse_datetime
from ..microsoft.graph import ReadCheck, read_delta
from ..sync import users as user_rules
from .csp_guard import CONTEXT_KEY as CODE_WRITE_KEY
from .csp_sync_run import out_of_time as _out_of_time

_logger = logging.getLogger(__name__)

NOT_PREMIUM = "authentication_requestfromnonpremiumtenantorb2ctenant"


class UserImporter:
    """One tenant's user sync (a full or delta round, resumable at page boundaries)."""

    def __init__(self, bindings, tenant):
        self.model = bindings  # csp.user.binding
        self.env = bindings.env
        self.tenant = tenant

    def run(self, http):
        """Full or delta import of the tenant's users. Returns the run counters."""
        tenant = self.tenant
        counters = dict.fromkeys(("created", "updated", "deactivated", "skipped"), 0)
        if tenant.mapping_state != "mapped":
            return counters
        connection = tenant.connection_id
        graph = connection._csp_graph(http, tenant.tenant_id)
        context = _SyncContext(self.env, tenant)
        # groups are read on the first run (so that mappings can choose among them) and
        # then followed by delta only while a mapping filters or sets values by group
        groups_due = context.needs_groups or not tenant.groups_delta_link or tenant.groups_round
        if groups_due and not self.env["csp.azure.group"]._csp_sync_groups(tenant, graph):
            return {**counters, "paused": True}  # out of time: the step resumes
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
            lambda link: self.users_round(tenant, graph, context, link, counters),
            tenant.users_delta_link,
            expired,
            resumed=resumed,
        )
        if context.refused:
            counters["errors"] = len(context.refused)
            counters["message"] = "\n".join(context.refused[:20])
        if not complete:
            counters["paused"] = True  # out of time: the run resumes this step
        return counters

    def users_round(self, tenant, graph, context, link, counters):
        """One full (no `link`) or delta round of the tenant's users.

        Nothing is archived, and the delta link is not replaced, until the round has
        read Graph's final page (see ReadCheck); archives then pass the safety valve.
        Out of time (a scheduled run's budget), the round stops at a page boundary and
        keeps where it was on the tenant; the next call goes on from there. Returns
        False when it stopped so, True when the round is complete.
        """
        resume = tenant._csp_round_get("users")
        if resume:
            context.sign_in = resume["sign_in"]
        select = context.select()
        full = resume["full"] if resume else not link
        context.graph, context.delta = graph, not full
        seen = set(resume.get("seen") or ()) if resume else set()
        context.archive = set(resume.get("archive") or ()) if resume else set()
        changed = bool(resume and resume.get("changed"))
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
                users = [u for u in check.page(page) if context.valid_entry(u)]
                if full:
                    seen.update(u["id"] for u in users)
                changed |= self.apply_page(tenant, users, context, counters)
                new_link = page.get("@odata.deltaLink") or new_link
                following = page.get("@odata.nextLink")
                if following and _out_of_time(self.env):
                    tenant._csp_round_keep(
                        "users",
                        {"next": following, "full": full, "sign_in": context.sign_in,
                         "check": check.state(), "delta_link": new_link, "changed": changed,
                         "seen": sorted(seen), "archive": sorted(context.archive)},
                    )  # fmt: skip
                    return False
            check.finish("the tenant's users")
        except errors.MicrosoftError as exc:
            if not context.sign_in or (exc.code or "").lower() != NOT_PREMIUM:
                raise
            tenant.message_post(body=exc.user_message())
            context.sign_in = False  # the others still import, without last sign-in
            tenant._csp_round_drop("users")
            return self.users_round(tenant, graph, context, link, counters)
        if full and tenant.connection_id.user_deactivate_missing:
            gone = self.model.search(
                [("csp_tenant_id", "=", tenant.id), ("microsoft_id", "not in", list(seen)),
                 ("removed", "=", False)]
            )  # fmt: skip
            context.archive.update(gone.ids)
        changed |= self.archive(tenant, context, counters, full=full)
        # after a full round (a reset, or a 410) the new link is kept even when nothing
        # changed: the expired one would answer 410 again
        tenant._csp_store_delta_link("users", new_link, changed=changed, force=full)
        tenant._csp_round_drop("users")
        return True

    def archive(self, tenant, context, counters, full):
        """Archive what a complete round found gone, unless the safety valve holds it
        (too large a share of the tenant's users: a person confirms). Returns whether
        anything was written."""
        present = context.present
        held_before = tenant._csp_held_ids()
        # held contacts a complete read shows again are no longer waiting
        held = [i for i in held_before if i not in present and (not full or i in context.archive)]
        bindings = (
            self.model.browse(sorted(context.archive)).exists().filtered(lambda b: not b.removed)
        )
        archived = 0
        if bindings and tenant._csp_archive_allowed(len(bindings)):
            archived = bindings._csp_mark_removed()
            held = [i for i in held if i not in bindings.ids]
        elif bindings:
            held = sorted(set(held) | set(bindings.ids))
            counters["held"] = counters.get("held", 0) + len(bindings)
        counters["deactivated"] += archived
        if held != held_before:
            tenant._csp_hold_archive(self.model.browse(held), new=len(held) > len(held_before))
        return bool(archived)

    def apply_page(self, tenant, users, context, counters):
        """Apply one page of users in batches. Returns whether anything was written."""
        bindings = {
            b.microsoft_id: b
            for b in self.model.search(
                [("csp_tenant_id", "=", tenant.id),
                 ("microsoft_id", "in", [u["id"] for u in users])]
            )
        }  # fmt: skip
        removed = [bindings[u["id"]] for u in users if "@removed" in u and u["id"] in bindings]
        # archives wait for the end of the round (proof of a complete read, safety valve)
        if removed and tenant.connection_id.user_deactivate_missing:
            context.archive.update(binding.id for binding in removed)
        reasons = {u["id"]: (u.get("@removed") or {}).get("reason") for u in users}
        gone = [b for b in removed if reasons.get(b.microsoft_id) == "deleted"]
        if gone:  # deleted for good: nothing left to merge a later entry into
            self.model.union(*gone).filtered("graph_values").write({"graph_values": False})
        decisions = []
        skipped_values = []
        for user in context.known_users(users, bindings):
            try:
                decision = context.decide(user)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                context.refuse(user, exc)
                continue
            if decision.skip_reason:
                counters["skipped"] += 1
                binding = bindings.get(user["id"])
                if binding:
                    skipped_values.append((binding, {"graph_values": _graph_json(user)}))
                if binding and not binding.removed:
                    context.archive.add(binding.id)
                continue
            if user["id"] in bindings:
                context.present.add(bindings[user["id"]].id)
                context.archive.discard(bindings[user["id"]].id)
            decisions.append((user, decision))
        _write_bindings(
            self.model, [(b, v) for b, v in skipped_values if b.graph_values != v["graph_values"]]
        )
        return self.write_decisions_safely(tenant, decisions, bindings, context, counters)

    def write_decisions_safely(self, tenant, decisions, bindings, context, counters):
        """The page's writes in bulk; when the bulk write fails, each user alone, so that
        one user's data cannot stop the tenant's others (it is counted and explained)."""
        if not decisions:
            return False
        attempt = dict(counters)
        try:
            with self.env.cr.savepoint():
                written = self.write_decisions(tenant, decisions, bindings, context, attempt)
        except Exception:  # retried user by user below, which explains it
            self.env.invalidate_all()
            _logger.info("CSP: a user of %s could not be written, retrying one by one",
                         tenant.tenant_id)  # fmt: skip
        else:
            counters.update(attempt)
            return written
        written = False
        for user, decision in decisions:
            attempt = dict(counters)
            try:
                with self.env.cr.savepoint():
                    written |= self.write_decisions(
                        tenant, [(user, decision)], bindings, context, attempt
                    )
            except Exception as exc:  # one user's data, explained on the run
                self.env.invalidate_all()
                context.refuse(user, exc)
            else:
                counters.update(attempt)
        return written

    def write_decisions(self, tenant, decisions, bindings, context, counters):
        batch = _Batch(self.model, tenant)
        sites = context.resolve_sites(d for _u, d in decisions)
        matches = context.match_existing([u for u, _d in decisions if u["id"] not in bindings])
        changed = []  # (contact id, wanted values) of bound users whose data changed
        for user, decision in decisions:
            if context.skip_protected(bindings.get(user["id"]), matches.get(user["id"]), counters):
                continue
            parent = sites.get((decision.customer_id, decision.site_value), decision.parent_id)
            print_ = user_rules.fingerprint(decision)
            values = {**decision.values, "parent_id": parent}
            if decision.tag_ids:
                values["category_id"] = [(6, 0, list(decision.tag_ids))]
            meta = _binding_values(user, decision, print_, context.sign_in)
            binding = bindings.get(user["id"])
            if binding and binding.partner_id:
                if binding.fingerprint == print_ and not binding.removed:
                    counters["skipped"] += 1
                    batch.update_binding(binding, meta)
                    continue
                if binding.removed:  # back in Azure, or imported again
                    values.setdefault("active", True)
                changed.append((binding.partner_id.id, values))
                batch.update_binding(binding, {**meta, "removed": False, "removed_date": False})
                counters["updated"] += 1
            elif user["id"] in matches:  # an existing contact (same e-mail or UPN)
                changed.append((matches[user["id"]], values))
                batch.bind(user["id"], matches[user["id"]], meta)
                counters["updated"] += 1
            else:
                values.setdefault("name", user_rules.built_name(user))
                batch.new_contact(user["id"], values, meta, binding)
        for partner_id, diff in _partner_diffs(self.env, changed):
            batch.write_contact(partner_id, diff)
        counters["created"] += batch.flush()
        portal = {d.object_id for _u, d in decisions if d.portal}
        if portal:
            context.grant_portal(
                self.model.search(
                    [("csp_tenant_id", "=", tenant.id), ("microsoft_id", "in", list(portal))]
                ).partner_id.ids
            )
        return batch.written


class _Batch:
    """The contact creations, writes and bindings of one page, done in bulk."""

    def __init__(self, bindings_model, tenant):
        self.bindings = bindings_model
        self.tenant = tenant
        self.partners = bindings_model.env["res.partner"].with_context(tracking_disable=True)
        self.moves = defaultdict(list)  # site id -> partner ids
        self.updates = defaultdict(list)  # frozen values -> partner ids
        self.creates = []  # (object id, values, binding values, existing binding)
        self.binds = []
        self.binding_updates = []  # (binding, changed values)
        self.written = False

    def update_binding(self, binding, values):
        changes = binding._csp_differs(values)
        if changes:
            self.binding_updates.append((binding, changes))

    def write_contact(self, partner_id, values):
        """A move is grouped by site (one write for every user moved there); the other
        changed fields go in one write per user, shared by users with the same values."""
        values = dict(values)
        if "parent_id" in values:
            self.moves[values.pop("parent_id")].append(partner_id)
        if values:
            frozen = tuple(
                sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in values.items())
            )
            self.updates[frozen].append(partner_id)

    def new_contact(self, object_id, values, meta, binding):
        self.creates.append((object_id, values, meta, binding))

    def bind(self, object_id, partner_id, meta):
        self.binds.append(
            {**meta, "partner_id": partner_id, "microsoft_id": object_id,
             "csp_tenant_id": self.tenant.id, "connection_id": self.tenant.connection_id.id}
        )  # fmt: skip

    def flush(self):
        """Write everything; returns the number of contacts created."""
        # every write shares one prefetch set: what res.partner.write reads of each
        # contact (its fields, users, children) comes in one query for all of them,
        # not one per write (unique values such as new names need a write each)
        touched = self.partners.browse(
            {pid for ids in (*self.moves.values(), *self.updates.values()) for pid in ids}
        )
        # moves first: Odoo then copies the new site's address to its contacts, and
        # the mapped values written next are the ones that stay
        for parent_id, partner_ids in self.moves.items():
            touched.browse(partner_ids).with_prefetch(touched._prefetch_ids).write(
                {"parent_id": parent_id}
            )
        for frozen, partner_ids in self.updates.items():
            touched.browse(partner_ids).with_prefetch(touched._prefetch_ids).write(
                {k: list(v) if isinstance(v, tuple) else v for k, v in frozen}
            )
        created = self.partners.create([values for _o, values, _m, _b in self.creates])
        for (object_id, _values, meta, binding), partner in zip(self.creates, created, strict=True):
            if binding:
                binding.write(
                    {**meta, "partner_id": partner.id, "removed": False, "removed_date": False}
                )
            else:
                self.bind(object_id, partner.id, meta)
        if self.binds:
            self.bindings.create(self.binds)
        _write_bindings(self.bindings, self.binding_updates)
        self.written = bool(
            self.moves or self.updates or self.creates or self.binds or self.binding_updates
        )
        return len(created)


def _write_bindings(model, updates):
    """Bindings whose own fields changed, grouped into one write per set of values.

    Fingerprints differ per user, so these writes rarely group: they go in one SQL
    statement per set of changed columns (bindings have no dependent computed field).
    """
    by_columns = defaultdict(list)
    for binding, changes in updates:
        by_columns[tuple(sorted(changes))].append((binding.id, changes))
    env = model.env
    model.flush_model()
    for columns, rows in by_columns.items():
        if len(rows) == 1 or not model._csp_raw_update_fields.issuperset(columns):
            model.browse(rows[0][0]).write(rows[0][1])
            continue
        types = {name: model._fields[name].column_type[1] for name in columns}
        rows_sql = SQL(", ").join(
            SQL("%s", (binding_id, *[_column_value(changes[name]) for name in columns]))
            for binding_id, changes in rows
        )
        env.cr.execute(
            SQL(
                "UPDATE csp_user_binding AS b SET %s, write_date = %s, write_uid = %s"
                " FROM (VALUES %s) AS v(%s) WHERE b.id = v.id",
                SQL(", ").join(
                    SQL("%s = v.%s::%s", SQL.identifier(n), SQL.identifier(n), SQL(types[n]))
                    for n in columns
                ),
                fields.Datetime.now(),
                env.uid,
                rows_sql,
                SQL(", ").join([SQL("id"), *(SQL.identifier(n) for n in columns)]),
            )
        )
        model.invalidate_model([*columns, "write_date", "write_uid"])


def select_for(env, tenant):
    """$select of a users read of `tenant`: only what its mappings and filters read."""
    return _SyncContext(env, tenant).select()


def _users_page_size(env):
    """Users per page of a full read (system parameter, Graph's maximum 999 by default)."""
    value = env["ir.config_parameter"].sudo().get_param("csp_connector.users_page_size")
    return max(1, min(int(value), 999)) if value and value.isdigit() else 999


def _column_value(value):
    return None if value is False else value


def _partner_diffs(env, changed):
    """[(partner id, only the fields whose value differs)] for the changed users."""
    if not changed:
        return []
    names = sorted({name for _pid, values in changed for name in values})
    partners = (
        env["res.partner"].with_context(active_test=False).browse([pid for pid, _v in changed])
    )
    current = {row["id"]: row for row in partners.read(names, load=None)}
    diffs = []
    for partner_id, values in changed:
        row = current.get(partner_id, {})
        diff = {k: v for k, v in values.items() if _differs(row.get(k), v)}
        if diff:
            diffs.append((partner_id, diff))
    return diffs


def _differs(current, wanted):
    if isinstance(wanted, list):  # [(6, 0, ids)] on a many2many
        return sorted(current or []) != sorted(wanted[0][2])
    return (current or False) != (wanted or False)


def _graph_json(user):
    return json.dumps(user, sort_keys=True, separators=(",", ":"), default=str)


def _binding_values(user, decision, print_, with_sign_in):
    licences = sorted(lic.get("skuId") for lic in user.get("assignedLicenses") or [])
    values = {
        "upn": user.get("userPrincipalName"),
        "mail": user.get("mail") or False,
        "account_enabled": bool(user.get("accountEnabled", True)),
        "external": user_rules.is_external(user),
        "licensed": bool(licences),
        "sku_ids": " ".join(licences) or False,
        "mapping_id": decision.mapping_id,
        "fingerprint": print_,
        "graph_values": _graph_json(user),
    }
    if with_sign_in:
        activity = user.get("signInActivity") or {}
        when = parse_datetime(activity.get("lastSignInDateTime"))
        values["last_sign_in"] = when.replace(tzinfo=None) if when else False
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
        self.protected = env["res.partner"]._csp_protected_ids()
        self.archive = set()  # bindings to archive when the round is complete
        self.present = set()  # bindings whose users this round listed
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
            self.env._("An entry without an object id was left out: %s", str(entry)[:200])
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
        # a user gone meanwhile comes as a removal in a later round
        return [user_rules.merge_entry(found[e["id"]], e) for e in entries if e["id"] in found]

    def refuse(self, user, exc):
        """Count and explain a user that could not be imported; the others go on."""
        who = user.get("userPrincipalName") or user.get("mail") or user.get("id")
        _logger.warning("CSP: user %s of %s not imported: %s", who, self.tenant.tenant_id, exc)
        self.refused.append(
            self.env._(
                "User %(who)s (object id %(id)s) was not imported: %(error)s. Likely cause: "
                "a value Odoo cannot store (check this user's properties in Entra ID and "
                "the field mappings). The tenant's other users were imported.",
                who=who,
                id=user.get("id"),
                error=str(exc)[:300],
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

    def match_existing(self, users):
        """{object id: contact id} for users an existing contact already stands for."""
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
             ("partner_id", "not in", list(self.protected))]
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

    def skip_protected(self, binding, match, counters):
        """Whether the user's contact (bound, or found by e-mail/UPN) belongs to an Odoo
        user or is a company of the database: then the sync leaves it alone, counted."""
        contact = binding.partner_id.id if binding and binding.partner_id else match
        if not contact or contact not in self.protected:
            return False
        counters["skipped"] += 1
        counters["skipped_protected"] = counters.get("skipped_protected", 0) + 1
        return True

    def grant_portal(self, partner_ids):
        """Portal users for contacts this sync created or bound (bindings are written by
        the sync only), never for a contact that already has a user. With the portal
        group only, so sudo: the integrator itself may not create users."""
        portal = self.env.ref("base.group_portal")
        protected = self.env["res.partner"]._csp_protected_ids(partner_ids)
        partners = self.env["res.partner"].browse([p for p in partner_ids if p not in protected])
        partners = partners.filtered(lambda p: p.email and p.active)
        if partners:
            self.env["res.users"].sudo().with_context(
                no_reset_password=True, **{CODE_WRITE_KEY: False}
            ).create(
                [{"name": p.name, "login": p.email, "partner_id": p.id,
                  "groups_id": [(6, 0, [portal.id])]} for p in partners]
            )  # fmt: skip
