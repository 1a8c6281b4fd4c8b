# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The licences step of the integrator, and its settings on the connection and tenant.

Per run: the connection part reads Partner Center's audit records since the last run
and notes, per tenant, the subscriptions they name; each tenant's part then reads its
subscribed SKUs (Graph) and, for subscriptions, either all of them (first read, or the
last full read is older than the connection's interval) or only the noted ones.
"""

import json
import logging
from contextlib import contextmanager
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..microsoft import errors
from ..sync import ledger
from ..sync import licences as licence_rules
from .csp_guard import code_env
from .csp_sync_step import CspStep

_logger = logging.getLogger(__name__)

IMPORT_TYPES = [  # the connection's choice and each tenant's override
    (licence_rules.IMPORT_SKUS, "All subscribed SKUs"),
    (licence_rules.IMPORT_SUBSCRIPTIONS, "Your subscriptions"),
    (licence_rules.IMPORT_BOTH, "Your subscriptions and SKUs"),
]
AUDIT_OVERLAP = timedelta(minutes=10)  # audit records may be written a little late
MAX_SINGLE_READS = 5  # more named subscriptions than this: read the customer's list


class CspConnection(models.Model):
    _inherit = "csp.connection"

    # on by default, like the other steps: the default import type (all subscribed SKUs)
    # reads Graph with Organization.Read.All, which tenant discovery needs already; a
    # refusal is explained on its tenant and never stops the others (see _csp_refused)
    sync_licences = fields.Boolean(
        string="Licences",
        default=True,
        help="Import subscribed SKUs, who holds them and Partner Center subscriptions.",
    )
    licence_import_type = fields.Selection(
        IMPORT_TYPES,
        default=licence_rules.IMPORT_SKUS,
        required=True,
        help="All subscribed SKUs (Graph): the only choice for indirect resellers. Your "
        "subscriptions: Partner Center subscriptions (direct resellers). Both: the two. "
        "Each tenant may override it.",
    )
    licence_full_read_hours = fields.Integer(
        string="Re-read All Subscriptions Every (hours)",
        default=24,
        help="Between full reads, only the subscriptions named by Partner Center's audit "
        "records (and webhook events) are read again.",
    )
    licence_audit_since = fields.Datetime(
        string="Audit Records Read Until", readonly=True, copy=False
    )
    manage_licences = fields.Boolean(
        string="Manage Licences from Odoo",
        help="Assigning or removing a licence in Odoo assigns or removes it in Microsoft "
        "(Graph assignLicense); Odoo changes only once Microsoft confirmed.",
    )
    adjust_quantities = fields.Boolean(
        help="Direct resellers: change a subscription's quantity from Odoo.",
    )

    @api.model
    def _csp_code_only_fields(self):
        # the audit-record position: set by the licences step itself
        return super()._csp_code_only_fields() | {"licence_audit_since"}

    @api.model
    def _csp_permissions(self):
        return [
            *super()._csp_permissions(),
            (
                self.env._("Licences"),
                [self.env._("LicenseAssignment.Read.All (or Organization.Read.All)"),
                 self.env._("LicenseAssignment.ReadWrite.All (to manage licences from Odoo)")],
                [self.env._("Admin agent or Sales agent role (subscriptions, audit records; "
                            "Admin agent for quantity changes)")],
            ),
        ]  # fmt: skip

    @api.model
    def _csp_sync_steps(self):
        label = self.env._("Licences")
        return [
            *super()._csp_sync_steps(),
            CspStep("licences", label, "connection", 30, "_csp_sync_licence_audit"),
            CspStep("licences", label, "tenant", 30, "_csp_sync_licences"),
        ]

    def _csp_sync_licence_audit(self, http):
        """Partner Center audit records since the last run: note, per tenant, the
        subscriptions that changed (its step reads only those)."""
        now = fields.Datetime.now()
        since = self.licence_audit_since
        if not self.env["csp.tenant"].search_count(self._csp_licence_tenant_domain("sub")):
            return {"skipped": 1}
        if not since:
            # first run: every tenant reads all its subscriptions anyway
            code_env(self).write({"licence_audit_since": now})
            return {"skipped": 1}
        client = self._csp_partner_center(http)
        records = list(client.audit_records(since - AUDIT_OVERLAP, None))
        changes = licence_rules.audit_changes(records)
        times = licence_rules.audit_times(records)
        observed = ledger.audit_observations(records)
        tenants = self.env["csp.tenant"].search(
            [*self._csp_licence_tenant_domain("sub"), ("tenant_id", "in", list(changes))]
        )
        for tenant in tenants:
            customer = tenant.tenant_id.lower()
            tenant._csp_note_changed_subscriptions(changes[customer], times.get(customer))
            tenant._csp_record_audit([(s, o) for c, s, o in observed if c == customer])
        code_env(self).write({"licence_audit_since": now})
        return {"updated": len(tenants), "skipped": 0 if tenants else 1}

    def _csp_licence_tenant_domain(self, kind):
        """Mapped tenants of this connection whose import type reads subscriptions
        (`kind` "sub"), else subscribed SKUs."""
        types = ("subscriptions", "both") if kind == "sub" else ("skus", "both")
        domain = [("connection_id", "=", self.id), ("mapping_state", "=", "mapped")]
        if self.licence_import_type in types:
            return [*domain, "|", ("licence_import_type", "=", False),
                    ("licence_import_type", "in", types)]  # fmt: skip
        return [*domain, ("licence_import_type", "in", types)]


class CspTenant(models.Model):
    _inherit = "csp.tenant"

    licence_import_type = fields.Selection(
        IMPORT_TYPES,
        string="Licence Import",
        help="This tenant's choice; empty: the connection's.",
    )
    licence_pending = fields.Char(
        string="Subscriptions to Re-read", readonly=True, copy=False,
        help="Subscription ids named by audit records or webhook events since the last "
        "read ('*': all of them).",
    )  # fmt: skip
    licence_audit_times = fields.Text(
        string="Audit Record Times", readonly=True, copy=False,
        help="When Partner Center's audit records say each subscription to re-read last "
        "changed (JSON); kept on the subscription when it is read.",
    )  # fmt: skip
    licence_full_read = fields.Datetime(
        string="Subscriptions Fully Read", readonly=True, copy=False
    )
    subscribed_sku_ids = fields.One2many("csp.subscribed.sku", "csp_tenant_id")
    subscription_ids = fields.One2many("csp.subscription", "csp_tenant_id")
    licence_count = fields.Integer(compute="_compute_licence_counts")
    subscription_count = fields.Integer(compute="_compute_licence_counts")

    def _compute_licence_counts(self):
        """Licences and subscriptions paid for and still in Microsoft (as their lists
        show by default), per tenant."""
        counts = {}
        for model, key, extra in (
            ("csp.subscribed.sku", "licence_count", [("free_kind", "=", False)]),
            ("csp.subscription", "subscription_count", [("free_kind", "=", False)]),
        ):
            groups = self.env[model]._read_group(
                [("csp_tenant_id", "in", self.ids), ("removed", "=", False), *extra],
                ["csp_tenant_id"], ["__count"],
            )  # fmt: skip
            counts[key] = {tenant.id: count for tenant, count in groups}
        for tenant in self:
            tenant.licence_count = counts["licence_count"].get(tenant.id, 0)
            tenant.subscription_count = counts["subscription_count"].get(tenant.id, 0)

    @api.model
    def _csp_code_only_fields(self):
        # what the licences step re-reads: set by the step itself
        return super()._csp_code_only_fields() | {
            "licence_pending", "licence_full_read", "licence_audit_times",
        }  # fmt: skip

    def _csp_licence_import_type(self):
        return licence_rules.effective_import_type(
            self.connection_id.licence_import_type, self.licence_import_type
        )

    def _csp_note_changed_subscriptions(self, ids, times=None):
        """Note subscriptions to re-read; ``times``: {id: ISO time} of their audit records."""
        pending = set((self.licence_pending or "").split()) | set(ids)
        if licence_rules.ALL in pending:
            pending = {licence_rules.ALL}
        values = {"licence_pending": " ".join(sorted(pending)) or False}
        if times:
            known = json.loads(self.licence_audit_times or "{}")
            for sub_id, when in times.items():
                known[sub_id] = max(known.get(sub_id, when), when)
            values["licence_audit_times"] = json.dumps(known, sort_keys=True)
        values = {k: v for k, v in values.items() if v != self[k]}
        if values:
            code_env(self).write(values)

    def _csp_record_audit(self, observed):
        """Each audit record of this customer's subscriptions is its own change in their
        history, in order, dated by its operationDate (``observed``: [(subscription id,
        ledger.Observed)]); a subscription Odoo has not read yet waits for its read."""
        subscriptions = self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.id), ("microsoft_id", "in", [s for s, __ in observed])]
        )
        by_id = {s.microsoft_id: s for s in subscriptions}
        self.env["csp.subscription.change"]._csp_record(
            [(by_id[sub_id], item) for sub_id, item in observed if sub_id in by_id]
        )

    def _csp_sync_licences(self, http):
        """The licences step for one tenant; returns the run line's counters."""
        if self.mapping_state != "mapped":
            return {}
        import_type = self._csp_licence_import_type()
        halves = []
        if licence_rules.reads_skus(import_type):
            halves.append(self._csp_sync_skus)
        if licence_rules.reads_subscriptions(import_type):
            halves.append(self._csp_sync_subscriptions)
        # each half (Graph's SKUs, Partner Center's subscriptions) in its own savepoint:
        # one failing (Partner Center down, a lost sign-in) keeps what the other did; the
        # run records the failure ("failed") on the line and the tenant
        counters, failed = {}, []
        for half in halves:
            try:
                with self.env.cr.savepoint():
                    _add(counters, half(http))
            except (errors.MicrosoftError, UserError) as exc:
                if len(halves) == 1:
                    raise
                failed.append((half, exc))
        if failed:
            counters["failed"] = [exc for _half, exc in failed]
            kept = [h for h in halves if h not in {half for half, _exc in failed}]
            _add(counters, {"message": self._csp_licence_half_note(failed[0][0], kept)})
        return counters

    def _csp_licence_half_note(self, half, kept):
        """What the run line says of a licences step whose other half worked."""
        if not kept:
            return self.env._("Neither the subscribed SKUs nor the subscriptions were read.")
        if half == self._csp_sync_subscriptions:
            return self.env._(
                "Partner Center: the subscriptions of %s could not be read; its subscribed "
                "SKUs and who holds them (Microsoft Graph) were imported.",
                self.name,
            )
        return self.env._(
            "Microsoft Graph: the subscribed SKUs of %s could not be read; its Partner "
            "Center subscriptions were imported.",
            self.name,
        )

    def _csp_sync_skus(self, http):
        """The Graph half: subscribed SKUs and who holds them."""
        counters = {}
        graph = self.connection_id._csp_graph(http, self.tenant_id)
        names = self.env["csp.sku.name"]._csp_names()
        with self._csp_refused("skus"):
            items = list(graph.subscribed_skus())
        Sku = self.env["csp.subscribed.sku"]
        _add(counters, Sku._csp_import_skus(self, items, names))
        skus = Sku.search([("csp_tenant_id", "=", self.id)])
        _add(counters, skus._csp_sync_assignments())
        return counters

    def _csp_sync_subscriptions(self, http, force_full=False):
        Subscription = self.env["csp.subscription"]
        now = fields.Datetime.now()
        hours = max(self.connection_id.licence_full_read_hours, 0)
        pending = set((self.licence_pending or "").split())
        full = (
            force_full
            or not self.licence_full_read
            or self.licence_full_read <= now - timedelta(hours=hours)
            or licence_rules.ALL in pending
            or len(pending) > MAX_SINGLE_READS
        )
        client = self.connection_id._csp_partner_center(http)
        if full:
            page_size = self.connection_id._csp_page_size()
            with self._csp_refused("subscriptions"):
                items = list(client.subscriptions(self.tenant_id, page_size=page_size))
            counters = Subscription._csp_import_subscriptions(self, items, complete=True)
            values = {"licence_full_read": now, "licence_pending": False}
        elif pending:
            items, values = [], {"licence_pending": False}
            for subscription_id in sorted(pending):
                try:
                    with self._csp_refused("subscriptions"):
                        items.append(client.subscription(self.tenant_id, subscription_id))
                except errors.MicrosoftError as exc:
                    if exc.status != 404:
                        raise
                    # gone from Partner Center: the next run reads the whole list, which
                    # marks it removed
                    values["licence_full_read"] = False
            counters = Subscription._csp_import_subscriptions(self, items, complete=False)
        else:
            return {"skipped": 1}
        Subscription._csp_link_skus(self)
        Subscription._csp_settle_pending(self)
        if self.licence_audit_times:
            Subscription._csp_date_changes(self, json.loads(self.licence_audit_times))
            values["licence_audit_times"] = False
        code_env(self).write(values)
        return counters

    @contextmanager
    def _csp_refused(self, what):
        """Microsoft's 403 to the licences step, explained for this tenant (the run
        records it on the tenant, its chatter and the run line; the other tenants go on)."""
        try:
            yield
        except errors.MicrosoftError as exc:
            if exc.status != 403:
                raise
            raise UserError(self._csp_licence_refusal(exc, what)) from exc

    def _csp_licence_refusal(self, exc, what):
        if what == "skus":
            head = self.env._("Microsoft Graph refused to list the licences of %s.", self.name)
        else:
            head = self.env._("Partner Center refused to list the subscriptions of %s.", self.name)
        if errors.is_risky(exc):  # errors.py's own cause and fix follow
            return f"{head}\n\n{exc.user_message()}"
        if what == "skus":
            cause = self.env._(
                "Likely cause: the GDAP app lacks the application permission "
                "LicenseAssignment.Read.All (or Organization.Read.All), the tenant's admin "
                "consent predates it, or the GDAP relationship with this customer has no role "
                "that may read licences (Directory Readers, Global Reader or License "
                "Administrator).\n"
                "How to fix it: add the permission to the GDAP app, click 'Grant admin "
                "consent' on the tenant again and check the relationship's roles. The other "
                "tenants were imported."
            )
        else:
            cause = self.env._(
                "Likely cause: the account that authorised Partner Center has neither the "
                "Admin agent nor the Sales agent role, or you do not resell to this customer "
                "directly (an indirect reseller, or an ended reseller relationship, sees no "
                "subscriptions).\n"
                "How to fix it: give the account one of those roles in Partner Center and "
                "click 'Authorize' on the connection again, or set this tenant's licence "
                "import to 'All subscribed SKUs'. The other tenants were imported."
            )
        return f"{head}\n{cause}\n\n{exc.user_message()}"

    # -- smart buttons ------------------------------------------------------------------

    def action_open_licences(self):
        self.ensure_one()
        self.env["csp.subscribed.sku"].check_access("read")
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_subscribed_sku_action", domain=[("csp_tenant_id", "=", self.id)]
        )

    def action_open_subscriptions(self):
        self.ensure_one()
        self.env["csp.subscription"].check_access("read")
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_subscription_action", domain=[("csp_tenant_id", "=", self.id)]
        )


def _add(total, counters):
    for key, value in (counters or {}).items():
        if key == "message":
            total["message"] = "; ".join(filter(None, [total.get("message"), value]))
        elif isinstance(value, int):
            total[key] = total.get(key, 0) + value
    return total
