# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The "Azure consumption" step: Graph's usage exports (unbilled for the current
period, billed per invoice Microsoft issued) become the customers' Azure lines; and the
customer's Azure figures (this month, last month, budget)."""

import json
import logging

from odoo import api, fields, models

from odoo.addons.csp_connector.microsoft import errors
from odoo.addons.csp_connector.models.csp_sync_step import CspStep
from odoo.addons.csp_connector.sync import budget

from ..billing import azure, reconcile
from ..microsoft import usage_exports
from .csp_connection import check_invoicing_rights

_logger = logging.getLogger(__name__)

MAX_WAIT_PARAM = "csp_connector_billing.azure_max_wait"  # seconds of Retry-After per run
BUDGET_SUMMARY = "Azure budget passed"
KINDS = [(azure.USAGE, "Usage"), (azure.ADJUSTMENT, "Correction after invoicing")]


class CspConnection(models.Model):
    _inherit = "csp.connection"

    sync_azure = fields.Boolean(
        string="Azure Consumption",
        default=False,
        help="Run the Azure consumption step: Microsoft's usage exports (unbilled for the "
        "current month, billed per invoice) become lines of the customers' contracts.",
    )
    azure_fallback_product_id = fields.Many2one(
        "product.product",
        help="The product of an Azure meter no meter rule maps. Without it, such a meter "
        "stops its customer's period from being invoiced until a rule maps it.",
    )
    azure_exports = fields.Text(
        string="Azure Exports State",
        readonly=True,
        copy=False,
        help="Export operations still running at Microsoft and the invoices already read.",
    )

    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {"azure_exports"}

    def write(self, vals):
        if "azure_fallback_product_id" in vals:
            check_invoicing_rights(self.env, self.env._("Changing the Azure fallback product"))
        return super().write(vals)

    def _csp_sync_steps(self):
        return [
            *super()._csp_sync_steps(),
            CspStep("azure", self.env._("Azure consumption"), "connection", 60, "_csp_sync_azure"),
        ]

    def _csp_permissions(self):
        return [
            *super()._csp_permissions(),
            (
                self.env._("Azure consumption"),
                [self.env._("PartnerBilling.Read.All (application)")],
                [self.env._("Billing admin role (invoices)")],
            ),
        ]

    # -- state kept between runs -----------------------------------------------------

    def _csp_azure_state(self):
        try:
            state = json.loads(self.azure_exports or "{}")
        except ValueError:
            state = {}
        state.setdefault("pending", {})
        state.setdefault("billed", [])
        return state

    def _csp_azure_keep(self, state):
        text = json.dumps(state, sort_keys=True)
        if text != (self.azure_exports or json.dumps({"billed": [], "pending": {}})):
            self._csp_code().write({"azure_exports": text})

    # -- the step --------------------------------------------------------------------

    def _csp_sync_azure(self, http):
        """Read the exports due, each one whole, then apply it (per customer, all or
        nothing); an operation still running when the run's time is spent is kept and
        polled again at the next run."""
        self.ensure_one()
        state = self._csp_azure_state()
        counters = {"created": 0, "updated": 0, "skipped": 0, "errors": 0, "held": 0}
        messages, failed = [], []
        graph = self._csp_graph(http)
        jobs = ["unbilled"]
        try:
            invoices = list(self._csp_partner_center(http).items("v1/invoices"))
        except errors.MicrosoftError as exc:
            failed.append(exc)
            invoices = []
        for invoice in sorted(invoices, key=lambda i: str(i.get("invoiceDate") or "")):
            number = str(invoice.get("id") or "")
            if (
                number
                and number not in state["billed"]
                and (str(invoice.get("documentType") or "invoice").lower() == "invoice")
            ):
                jobs.append(f"billed:{number}")
        for job in jobs:
            if budget.out_of_time(self.env):
                counters["paused"] = True
                break
            try:
                self._csp_azure_job(graph, http, state, job, counters, messages)
            except errors.MicrosoftError as exc:
                state["pending"].pop(job, None)  # the next run asks for a new export
                failed.append(exc)
                self._csp_azure_failed(job, exc)
        self._csp_azure_keep(state)
        if failed:
            counters["failed"] = failed
        if messages:
            counters["message"] = "\n".join(messages)
        return counters

    def _csp_azure_job(self, graph, http, state, job, counters, messages):
        kind, _, invoice = job.partition(":")
        pending = state["pending"].get(job)
        if not pending:
            if kind == "billed":
                location = usage_exports.start_billed(graph, invoice)
            else:
                currency = self.company_id.currency_id.name
                location = usage_exports.start_unbilled(graph, currency)
            pending = state["pending"][job] = {"location": location}
            self._csp_azure_keep(state)
        max_wait = self.env["ir.config_parameter"]._csp_int(MAX_WAIT_PARAM, 120, low=0)
        waits = []

        def sleep(seconds):
            waits.append(seconds)
            http.sleep(seconds)

        operation = usage_exports.wait(
            graph, pending["location"], lambda: budget.out_of_time(self.env), sleep, max_wait
        )
        what = self._csp_azure_what(kind, invoice)
        if operation.status == "running":
            counters["held"] += 1
            messages.append(
                self.env._(
                    "%(what)s: Microsoft is still preparing the export (asked to wait "
                    "%(seconds)s s more); the next run goes on with it.",
                    what=what,
                    seconds=int(operation.retry_after),
                )
            )
            return
        if usage_exports.no_data(operation):  # no Azure usage in it: read, nothing to do
            state["pending"].pop(job, None)
            if kind == "billed":
                state["billed"].append(invoice)
            return
        if operation.status == "failed":
            raise usage_exports.failed(operation)
        totals, bad = azure.aggregate(usage_exports.iter_export(http, operation.manifest))
        source = (
            self.env._("Microsoft's invoice %(invoice)s", invoice=invoice)
            if kind == "billed"
            else self.env._("Microsoft's unbilled usage")
        )
        with self.env.cr.savepoint():
            done, problems = self.env["csp.azure.usage"]._csp_import(
                self, totals, kind == "billed", source
            )
        state["pending"].pop(job, None)
        if kind == "billed":
            state["billed"].append(invoice)
        for name in ("created", "updated", "skipped", "errors"):
            counters[name] += done[name]
        records = sum(t.records for t in totals.values())
        waited = f" after waiting {sum(waits):g} s as Microsoft asked" if waits else ""
        messages.append(
            self.env._(
                "%(what)s: %(records)s usage records read%(waited)s.",
                what=what,
                records=records,
                waited=waited,
            )
        )
        if bad:
            messages.append(
                self.env._("%(count)s records without customer or period left out.", count=bad)
            )
        messages.extend(problems)
        if kind == "unbilled":
            self._csp_azure_budgets()

    def _csp_azure_what(self, kind, invoice):
        if kind == "billed":
            return self.env._("Azure usage of Microsoft's invoice %(invoice)s", invoice=invoice)
        return self.env._("Azure usage of this month (unbilled)")

    def _csp_azure_failed(self, job, error):
        """An export that could not be read: said on each customer it concerns (those
        with Azure usage from this connection); nothing of it was written."""
        kind, _, invoice = job.partition(":")
        message = self.env._(
            "%(what)s could not be read; no Azure line was written or changed for it.\n%(why)s",
            what=self._csp_azure_what(kind, invoice),
            why=error.user_message() if hasattr(error, "user_message") else str(error),
        )
        _logger.warning("Azure export %s of connection %s: %s", job, self.id, error)
        tenants = (
            self.env["csp.azure.usage"]
            .search([("connection_id", "=", self.id)])
            .mapped("csp_tenant_id")
        )
        for tenant in tenants:
            tenant._csp_record_step_error("azure", error, message)

    def _csp_azure_budgets(self):
        """One activity per customer whose usage this month passed its budget (once a
        month: not again after it was done)."""
        today = fields.Date.context_today(self)
        month = azure.month_start(today)
        partners = (
            self.env["csp.azure.usage"]
            .search([("connection_id", "=", self.id), ("period_start", "=", month)])
            .mapped("partner_id")
            .filtered(lambda p: p.csp_azure_budget > 0)
        )
        usage = self.env["csp.azure.usage"]._csp_month_usage(partners, month)
        user = self.billing_user_id or self.env.ref("base.user_admin")
        for partner in partners:
            amount = usage.get(partner.id, 0.0)
            if not azure.over_budget(amount, partner.csp_azure_budget):
                continue
            if partner.csp_azure_budget_alerted == month:
                continue
            note = self.env._(
                "%(customer)s has used %(amount).2f of Azure this month, over its budget of "
                "%(budget).2f. Tell the customer before the invoice, or raise the budget.",
                customer=partner.display_name,
                amount=amount,
                budget=partner.csp_azure_budget,
            )
            partner.sudo()._csp_activity_once(self.env._(BUDGET_SUMMARY), note, user)
            partner.sudo().write({"csp_azure_budget_alerted": month})


class ResPartner(models.Model):
    _inherit = "res.partner"

    csp_azure_markup = fields.Float(
        string="Azure Markup %",
        help="Added to Microsoft's list price of this customer's Azure usage, for meters "
        "whose rule uses the customer's markup (0: sold at list price).",
    )
    csp_azure_budget = fields.Float(
        string="Azure Monthly Budget",
        help="When this month's Azure usage passes it, the billing contact gets an "
        "activity (once a month). 0: no budget.",
    )
    csp_azure_budget_alerted = fields.Date(readonly=True, copy=False)
    csp_azure_usage_month = fields.Float(
        string="Azure This Month", compute="_compute_csp_azure_usage"
    )
    csp_azure_usage_last_month = fields.Float(
        string="Azure Last Month", compute="_compute_csp_azure_usage"
    )

    def _compute_csp_azure_usage(self):
        today = fields.Date.context_today(self)
        month = azure.month_start(today)
        Usage = self.env["csp.azure.usage"].sudo()
        this = Usage._csp_month_usage(self, month)
        last = Usage._csp_month_usage(self, azure.previous_month(today))
        for partner in self:
            partner.csp_azure_usage_month = this.get(partner.id, 0.0)
            partner.csp_azure_usage_last_month = last.get(partner.id, 0.0)

    def write(self, vals):
        if "csp_azure_markup" in vals:
            check_invoicing_rights(self.env, self.env._("Changing a customer's Azure markup"))
        return super().write(vals)

    def action_csp_azure_usage(self):
        """The customer's Azure usage rows."""
        self.ensure_one()
        self.env["csp.azure.usage"].check_access("read")
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector_billing.csp_azure_usage_action",
            domain=[("partner_id", "=", self.commercial_partner_id.id)],
        )


def _mark_partner():
    return fields.Many2one(
        "res.partner", string="Azure Customer", readonly=True, copy=False, index=True,
        help="This is an Azure consumption line of this customer (with its period).",
    )  # fmt: skip


def _mark_period():
    return fields.Date(
        string="Azure Period", readonly=True, copy=False, index=True,
        help="First day of the Azure charge period this line invoices.",
    )  # fmt: skip


def _mark_period_end():
    return fields.Date(string="Azure Period End", readonly=True, copy=False)


def _mark_kind():
    return fields.Selection(KINDS, string="Azure Line", readonly=True, copy=False)


def _mark_cause():
    return fields.Text(string="Azure Correction Cause", readonly=True, copy=False)


class ContractLine(models.Model):
    _inherit = "contract.line"

    csp_azure_partner_id = _mark_partner()
    csp_azure_period = _mark_period()
    csp_azure_period_end = _mark_period_end()
    csp_azure_kind = _mark_kind()
    csp_azure_cause = _mark_cause()

    def _prepare_invoice_line(self):
        values = super()._prepare_invoice_line()
        if self.csp_azure_partner_id:
            values.update(
                {
                    # the reconciliation's seam: Azure consumption of the period's month
                    "csp_reconcile_key": reconcile.AZURE,
                    "csp_period_start": self.csp_azure_period,
                    "csp_azure_partner_id": self.csp_azure_partner_id.id,
                    "csp_azure_period": self.csp_azure_period,
                    "csp_azure_period_end": self.csp_azure_period_end,
                    "csp_azure_kind": self.csp_azure_kind,
                    "csp_azure_cause": self.csp_azure_cause,
                }
            )
        return values


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    csp_azure_partner_id = _mark_partner()
    csp_azure_period = _mark_period()
    csp_azure_period_end = _mark_period_end()
    csp_azure_kind = _mark_kind()
    csp_azure_cause = _mark_cause()

    @api.model
    def _csp_azure_sales(self, partner, period_start):
        """The invoice lines of ``partner``'s Azure sales of the period starting
        ``period_start`` (for a reconciliation): posted or draft, not cancelled."""
        return self.search(
            [("csp_azure_partner_id", "=", partner.commercial_partner_id.id),
             ("csp_azure_period", "=", period_start), ("parent_state", "!=", "cancel"),
             ("display_type", "=", "product")]
        )  # fmt: skip
