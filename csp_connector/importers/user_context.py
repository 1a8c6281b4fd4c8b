# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What a tenant's user import reads once per tenant (not per user): the connection's
site and field mappings, the options of its rules, the group memberships they need,
and the Odoo lookups the decisions lead to (sites, existing contacts, portal access).

Used by importers/users.py (UserImporter); the decisions themselves are the plain
rules of sync/users.py.
"""

import json
import logging

from odoo.tools import SQL

from ..microsoft.safe_text import one_line
from ..models.csp_guard import CONTEXT_KEY as CODE_WRITE_KEY
from ..models.csp_guard import code_env
from ..sync import users as user_rules

_logger = logging.getLogger(__name__)


class UserSyncContext:
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
