# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The reconciliation report: per customer and month, Partner Center's unbilled
reconciliation line items against the cost lines Odoo computed (pro-rata adjustments and
the recurring cost of each charge cycle), each difference with its likely cause.

The comparison is billing/reconcile.py's; this model reads both sides and stores the
outcome. Only code writes it: the buttons under sudo, after the caller's right to contact
Microsoft was checked; the scheduled job as the integrator, whose billing group may write
reports and their lines and nothing else here. Users read it, CSP managers run it and may
delete it, each in their own companies.
"""

import datetime as dt
import logging
import re

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.csp_connector.microsoft import errors
from odoo.addons.csp_connector.microsoft.safe_text import one_line
from odoo.addons.csp_connector.models.testing import under_test

from ..billing import lines as line_rules
from ..billing import prorata, reconcile
from ..microsoft import line_items
from . import csp_billing_adjustment as adjustment_rules
from . import subscription_history

_logger = logging.getLogger(__name__)

# the words are billing/reconcile.py's: the model shows its decisions
CAUSES = [(cause.value, words) for cause, words in reconcile.CAUSE_WORDS.items()]
LINE_STATES = [(state.value, words) for state, words in reconcile.LINE_STATE_WORDS.items()]
REPORT_STATES = [(state.value, words) for state, words in reconcile.REPORT_STATE_WORDS.items()]
CHARGE_TYPES = [
    *reconcile.CHARGE_WORDS.items(),
    (reconcile.OTHER_CHARGE, reconcile.OTHER_CHARGE_WORDS),
]
# a line that needs the accountant: counted and summed on the report
TO_CHECK = (reconcile.LineState.DIFFERS.value, reconcile.LineState.NOT_COMPARED.value)
_TERM = re.compile(r"^P(\d+)([MY])$", re.IGNORECASE)
EPOCH = dt.datetime(1970, 1, 1)


first_of_month = reconcile.first_of_month


def term_months(duration):
    found = _TERM.match((duration or "").strip())
    if not found:
        return None
    return int(found.group(1)) * (12 if found.group(2).upper() == "Y" else 1)


def period_of(month, today):
    """Partner Center's unbilled ``period`` holding ``month``: "current" or "previous";
    None for any other month (Partner Center keeps no unbilled items for it)."""
    this_month = first_of_month(today)
    if month == this_month:
        return "current"
    if month == first_of_month(this_month - dt.timedelta(days=1)):
        return "previous"
    return None


def count_field(string, help_text):
    """A count of the report's lines, written with them."""
    return fields.Integer(string=string, readonly=True, help=help_text)


class CspBillingReconciliation(models.Model):
    _name = "csp.billing.reconciliation"
    _description = "Microsoft Billing Reconciliation"
    _order = "month desc, partner_id, id"

    name = fields.Char(compute="_compute_name")
    connection_id = fields.Many2one(
        "csp.connection", required=True, readonly=True, ondelete="cascade", index=True
    )
    csp_tenant_id = fields.Many2one(
        "csp.tenant", string="Tenant", required=True, readonly=True, ondelete="cascade",
        index=True,
    )  # fmt: skip
    partner_id = fields.Many2one(
        related="csp_tenant_id.partner_id", string="Customer", store=True, index=True
    )
    company_id = fields.Many2one(related="connection_id.company_id", store=True, index=True)
    month = fields.Date(required=True, readonly=True, help="The month's first day.")
    currency_id = fields.Many2one("res.currency", readonly=True)
    state = fields.Selection(
        REPORT_STATES, default=reconcile.ReportState.QUEUED.value, required=True,
        readonly=True,
        help="What the lines say: Not billed yet (Microsoft has not invoiced the month; "
        "no line differs), Matches, Differences (a line differs or could not be "
        "compared), Could not read (Partner Center's line items were not read).",
    )  # fmt: skip
    billed = fields.Boolean(
        string="Billed by Microsoft", readonly=True,
        help="Whether Microsoft had invoiced the month when it was read (it invoices a "
        "month between the 6th and 8th of the next).",
    )  # fmt: skip
    billing_note = fields.Char(compute="_compute_billing_note")
    read_date = fields.Datetime(string="Read at", readonly=True)
    message = fields.Text(readonly=True, help="Why the last reading failed, and the fix.")
    matched_count = count_field("Matching Lines", "Lines on which Odoo and Microsoft agree.")
    expected_count = count_field(
        "Expected Lines",
        "Costs Odoo recorded that Microsoft has not billed yet (a month it has not invoiced).",
    )
    difference_count = count_field(
        "Differences", "Lines that differ, or that could not be compared."
    )
    total_difference = fields.Monetary(
        readonly=True,
        help="Microsoft's charges minus the costs Odoo recorded, over the lines that differ "
        "(positive: Microsoft charges more than Odoo knows). Expected lines are not in it.",
    )
    line_ids = fields.One2many("csp.billing.reconciliation.line", "reconciliation_id")

    _sql_constraints = [
        ("tenant_month_unique", "unique(csp_tenant_id, month)",
         "One reconciliation per customer tenant and month."),
    ]  # fmt: skip

    @api.depends("csp_tenant_id", "month")
    def _compute_name(self):
        for record in self:
            who = record.partner_id.display_name or record.csp_tenant_id.name or ""
            when = record.month.strftime("%B %Y") if record.month else ""
            record.name = f"{who} \N{EN DASH} {when}"

    @api.depends("month", "billed", "state")
    def _compute_billing_note(self):
        for record in self:
            unread = record.state in ("queued", "failed")
            record.billing_note = (
                reconcile.not_billed_note(record.month)
                if record.month and not record.billed and not unread
                else False
            )

    # -- starting ---------------------------------------------------------------------

    @api.model
    def _csp_today(self):
        """Partner Center's billing periods are UTC months."""
        return fields.Datetime.now().date()

    @api.model
    def _csp_for(self, tenants, month):
        """The (sudo) reports of ``tenants`` for ``month``, created when missing."""
        Report = self.sudo()
        found = Report.search([("csp_tenant_id", "in", tenants.ids), ("month", "=", month)])
        missing = tenants - found.csp_tenant_id
        created = Report.create(
            [{"csp_tenant_id": t.id, "connection_id": t.connection_id.id, "month": month}
             for t in missing]
        )  # fmt: skip
        return found | created

    def action_reconcile_again(self):
        """Read this report's month again, now (one customer: a short request)."""
        self.csp_tenant_id._csp_check_can_sync()
        for record in self:
            record.sudo()._csp_reconcile()
        return True

    # -- the work -----------------------------------------------------------------------

    def _csp_reconcile(self, items=None):
        """Fill this report (sudo) from ``items`` (read here when None). A Partner Center
        failure is stored, explained and logged; it never raises."""
        self.ensure_one()
        connection = self.connection_id
        currency = connection.billing_currency_id or connection.company_id.currency_id
        period = period_of(self.month, self._csp_today())
        if period is None:
            return self._csp_failed(self.env._(
                "Partner Center keeps unbilled line items for the current and the previous "
                "month only; %(month)s is billed already. Compare it with the invoice's "
                "reconciliation file in Partner Center instead.",
                month=self.month.strftime("%B %Y"),
            ))  # fmt: skip
        if items is None:
            try:
                items = self._csp_read_items(connection, currency, period)
            except errors.MicrosoftError as exc:
                return self._csp_failed(exc.user_message())
        tenant = self.csp_tenant_id
        billed = reconcile.is_billed(self.month, self._csp_today())
        ours, subscriptions = self._csp_cost_lines(tenant, self.month)
        report = reconcile.reconcile(
            tenant.tenant_id, self.month, ours, items, rounding=connection.billing_rounding,
            billed=billed,
        )  # fmt: skip
        by_id = {s.microsoft_id.lower(): s for s in subscriptions if s.microsoft_id}
        lines = [
            self._csp_line_values(reconcile.LineState.MATCHES, ours_, theirs, by_id)
            for ours_, theirs in report.pairs
        ] + [
            self._csp_line_values(d.state, d.odoo, d.microsoft, by_id, d)
            for d in report.differences + report.others
        ]
        incomplete = self._csp_incomplete_adjustments(subscriptions, self.month)
        lines += [self._csp_incomplete_values(adjustment, billed) for adjustment in incomplete]
        to_check = [values for values in lines if values["status"] in TO_CHECK]
        self.line_ids.unlink()
        self.write({
            "state": reconcile.report_state([values["status"] for values in lines], billed).value,
            "billed": billed,
            "message": False,
            "currency_id": currency.id,
            "read_date": fields.Datetime.now(),
            "matched_count": sum(values["status"] == "matched" for values in lines),
            "expected_count": sum(values["status"] == "expected" for values in lines),
            "difference_count": len(to_check),
            "total_difference": sum(
                values.get("microsoft_amount", 0.0) - values.get("odoo_amount", 0.0)
                for values in to_check
            ),
            "line_ids": [fields.Command.create(values) for values in lines],
        })  # fmt: skip
        return True

    @api.model
    def _csp_incomplete_adjustments(self, subscriptions, month):
        """The adjustments of ``subscriptions`` that cannot be compared (made by hand
        without a period or a date of change: none of the step's), shown in the month of
        their change, else of their period, else of their creation."""
        following = first_of_month(month + dt.timedelta(days=32))
        found = self.env["csp.billing.adjustment"].search(
            [("subscription_id", "in", subscriptions.ids),
             "|", "|", ("period_start", "=", False), ("period_end", "=", False),
             ("changed_at", "=", False)]
        )  # fmt: skip

        def day(adjustment):
            when = adjustment.changed_at or adjustment.period_start or adjustment.period_end
            return fields.Date.to_date(when or adjustment.create_date)

        return found.filtered(lambda a: month <= day(a) < following)

    @api.model
    def _csp_incomplete_values(self, adjustment, billed=True):
        subscription = adjustment.subscription_id
        missing = [
            label for label, value in (
                (self.env._("period start"), adjustment.period_start),
                (self.env._("period end"), adjustment.period_end),
                (self.env._("date of change"), adjustment.changed_at),
            ) if not value
        ]  # fmt: skip
        return {
            "status": reconcile.line_state(
                reconcile.Cause.INCOMPLETE, -adjustment.cost_amount, billed
            ).value,
            "cause": reconcile.Cause.INCOMPLETE.value,
            "subscription_id": subscription.id,
            "microsoft_subscription_id": subscription.microsoft_id,
            "charge_type": reconcile.charge_key(adjustment.charge_type)
            if adjustment.charge_type
            else False,
            "charge_code": adjustment.charge_type or False,
            "odoo_start": adjustment.period_start,
            "odoo_end": adjustment.period_end,
            "odoo_quantity": adjustment.quantity,
            "odoo_amount": adjustment.cost_amount,
            "explanation": self.env._(
                'The pro-rata adjustment "%(name)s" has no %(missing)s, so it cannot be '
                "compared with Microsoft's line items (the billing step always fills them: "
                "it was made by hand). Fill them in, or delete it if it duplicates a change "
                "the billing step billed.",
                name=adjustment.name or adjustment.key,
                missing=", ".join(missing),
            ),
        }

    @api.model
    def _csp_read_items(self, connection, currency, period):
        """Partner Center's unbilled line items of `connection` (all its customers) for
        `period`, in `currency`; every request in the connection's request log."""
        with connection._csp_call_microsoft(explain=False) as http:
            client = connection._csp_partner_center(http)
            return list(line_items.unbilled_line_items(client, currency.name, period))

    def _csp_reconcile_one(self, items):
        """_csp_reconcile for the job: one customer's unexpected failure is stored on its
        report (and logged), and the others are still filled."""
        try:
            with self.env.cr.savepoint():
                return self._csp_reconcile(items)
        except Exception as exc:  # one customer's failure never stops the others
            _logger.exception("CSP: reconciliation of report %s failed", self.id)
            return self._csp_failed(self.env._(
                "This customer's reconciliation stopped on an unexpected error (%(error)s); "
                "the other customers were reconciled. Press Reconcile again; if it repeats, "
                "send the server log of this moment to your Odoo partner.",
                error=one_line(str(exc)) or type(exc).__name__,
            ))  # fmt: skip

    def _csp_failed(self, message):
        _logger.warning(
            "CSP: reconciliation of %s for %s failed: %s",
            self.csp_tenant_id.tenant_id, self.month, one_line(message),
        )  # fmt: skip
        self.write({
            "state": reconcile.ReportState.FAILED.value, "message": message,
            "read_date": fields.Datetime.now(),
        })  # fmt: skip
        return False

    @api.model
    def _csp_line_values(self, status, ours, theirs, by_id, difference=None):
        side = ours or theirs
        subscription = by_id.get(side.subscription_id) if side else None
        code = side.charge_type if side else (difference.charge_type or "")
        values = {
            "status": reconcile.LineState(status).value,
            "microsoft_subscription_id": side.subscription_id if side else
            (difference.subscription_id if difference else False),
            "subscription_id": subscription.id if subscription else False,
            "charge_type": reconcile.charge_key(code) if code else False,
            "charge_code": code or False,
            "cause": difference.kind.value if difference else False,
            "explanation": difference.cause if difference else False,
        }  # fmt: skip
        for prefix, line in (("odoo", ours), ("microsoft", theirs)):
            if line is None:
                continue
            values.update({
                f"{prefix}_start": line.start,
                f"{prefix}_end": line.end,
                f"{prefix}_quantity": line.quantity,
                f"{prefix}_unit_price": float(line.unit_price or 0),
                f"{prefix}_amount": float(line.amount),
            })  # fmt: skip
        return values

    @api.model
    def _csp_cost_lines(self, tenant, month):
        """Odoo's cost lines of ``tenant`` for ``month``: each pro-rata adjustment, and
        the recurring cost (Microsoft cost x seats) of every charge cycle opening in the
        month that no adjustment bills already. Returns (charges, subscriptions)."""
        subscriptions = (
            self.env["csp.subscription"]
            .with_context(active_test=False)
            .search([("csp_tenant_id", "=", tenant.id)])
        )
        adjustments = self.env["csp.billing.adjustment"].search(
            [("subscription_id", "in", subscriptions.ids),
             ("charge_type", "!=", prorata.FIRST_DAYS),  # the customer's, not Microsoft's
             ("customer_only", "=", False),
             # one made by hand without dates: _csp_incomplete_adjustments
             ("period_start", "!=", False), ("period_end", "!=", False),
             ("changed_at", "!=", False)]
        )  # fmt: skip
        charges, opened = [], set()
        for adjustment in adjustments:
            subscription = adjustment.subscription_id
            digits = adjustment.currency_id.decimal_places or 2
            charges.append(reconcile.charge(
                subscription.microsoft_id, adjustment.charge_type, adjustment.period_start,
                adjustment.period_end, adjustment.quantity,
                # the unit cost the adjustment was computed with (the subscription's
                # may have changed since); an adjustment made by hand keeps none
                adjustment_rules.to_decimal(
                    adjustment.unit_cost if adjustment.change_id else subscription.cost_price,
                    digits,
                ),
                adjustment_rules.to_decimal(adjustment.cost_amount, digits),
                adjustment_rules.utc(adjustment.changed_at), adjustment.time_source,
                adjustment.billing_days, adjustment.cycle_days,
            ))  # fmt: skip
            if reconcile.charge_type(adjustment.charge_type) in reconcile.OPENING_TYPES:
                opened.add((subscription.id, adjustment.period_start))
        until = fields.Datetime.now().replace(tzinfo=dt.UTC)
        for subscription in subscriptions:
            for line in self._csp_recurring(subscription, month, until):
                if (subscription.id, line.start) not in opened:
                    charges.append(line)
        return charges, subscriptions

    @api.model
    def _csp_recurring(self, subscription, month, until):
        if not (line_rules.is_billed(subscription.billing_cycle) and subscription.start_date):
            return []
        opening, changes = subscription_history.history(subscription, EPOCH)
        ended = next((c.at for c in changes if c.kind == prorata.ChangeKind.CANCEL), None)
        if subscription.status != "active" and ended is None:
            return []  # suspended, or ended before Odoo knew it: nothing known to bill
        quantities = [(c.at, c.quantity) for c in changes
                      if c.kind in (prorata.ChangeKind.QUANTITY, prorata.ChangeKind.RENEWAL)
                      and c.quantity is not None]  # fmt: skip
        start_quantity = opening if opening is not None else subscription.quantity

        def quantity_at(moment):
            current = start_quantity
            for at, quantity in quantities:
                if at > moment:
                    break
                current = quantity
            return current

        cycle = (subscription.billing_cycle or "").lower()
        if cycle not in tuple(prorata.BillingCycle):
            return []
        digits = self.env.company.currency_id.decimal_places or 2
        return reconcile.recurring_charges(
            prorata.Subscription(
                subscription.microsoft_id, subscription.friendly_name or "", cycle,
                adjustment_rules.utc(subscription.start_date),
            ),
            month,
            term_months=term_months(subscription.term_duration),
            unit_price=adjustment_rules.to_decimal(subscription.cost_price, digits),
            quantity_at=quantity_at,
            purchased_at=adjustment_rules.utc(subscription.creation_date),
            ended_at=ended,
            until=until,
            currency_digits=digits,
        )  # fmt: skip

    # -- every customer, in the background ---------------------------------------------

    @api.model
    def _cron_reconcile(self, limit=50):
        """Fill the queued reports: Partner Center's items are read once per connection,
        month and currency, then each customer's report is filled and committed. Run by
        the scheduled job as the integrator (its billing group writes the reports), in
        the companies that user works in."""
        queued = self.search([("state", "=", "queued")], limit=limit)
        testing = under_test()
        groups = {}
        for record in queued:
            groups.setdefault((record.connection_id, record.month), self.browse())
            groups[(record.connection_id, record.month)] |= record
        for (connection, month), records in groups.items():
            currency = connection.billing_currency_id or connection.company_id.currency_id
            period = period_of(month, self._csp_today())
            items = None  # a month Partner Center no longer keeps: each report says so
            if period is not None:
                try:
                    items = self._csp_read_items(connection, currency, period)
                except errors.MicrosoftError as exc:
                    for record in records:
                        record._csp_failed(exc.user_message())
                    continue
            for record in records:
                record._csp_reconcile_one(items)
                if not testing:
                    self.env.cr.commit()  # pylint: disable=invalid-commit
        if len(queued) == limit:
            self.env.ref("csp_connector_billing.ir_cron_csp_billing_reconcile").sudo()._trigger()


class CspBillingReconciliationLine(models.Model):
    _name = "csp.billing.reconciliation.line"
    _description = "Microsoft Billing Reconciliation Line"
    _order = "reconciliation_id, status desc, microsoft_subscription_id, odoo_start, id"

    reconciliation_id = fields.Many2one(
        "csp.billing.reconciliation", required=True, readonly=True, ondelete="cascade",
        index=True,
    )  # fmt: skip
    partner_id = fields.Many2one(related="reconciliation_id.partner_id", store=True)
    month = fields.Date(related="reconciliation_id.month", store=True)
    connection_id = fields.Many2one(related="reconciliation_id.connection_id", store=True)
    company_id = fields.Many2one(related="reconciliation_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="reconciliation_id.currency_id")
    subscription_id = fields.Many2one("csp.subscription", readonly=True, ondelete="set null")
    microsoft_subscription_id = fields.Char(string="Subscription Id", readonly=True)
    charge_type = fields.Selection(CHARGE_TYPES, string="Charge", readonly=True)
    charge_code = fields.Char(
        string="Partner Center Charge Type", readonly=True,
        help="The charge type as Partner Center writes it (chargeType).",
    )  # fmt: skip
    status = fields.Selection(LINE_STATES, readonly=True, index=True)
    cause = fields.Selection(CAUSES, string="Likely Cause", readonly=True)
    explanation = fields.Text(readonly=True)
    odoo_start = fields.Date(string="Odoo From", readonly=True)
    odoo_end = fields.Date(string="Odoo To", readonly=True)
    odoo_quantity = fields.Integer(string="Odoo Seats", readonly=True)
    odoo_unit_price = fields.Float(string="Odoo Unit Cost", digits="Product Price", readonly=True)
    odoo_amount = fields.Monetary(string="Odoo Cost", readonly=True)
    microsoft_start = fields.Date(string="Microsoft From", readonly=True)
    microsoft_end = fields.Date(string="Microsoft To", readonly=True)
    microsoft_quantity = fields.Integer(string="Microsoft Seats", readonly=True)
    microsoft_unit_price = fields.Float(digits="Product Price", readonly=True)
    microsoft_amount = fields.Monetary(string="Microsoft Charge", readonly=True)
    difference = fields.Monetary(
        compute="_compute_difference", store=True,
        help="Microsoft's charge minus Odoo's cost; none on an expected line (Microsoft has "
        "not billed it yet).",
    )  # fmt: skip

    @api.depends("odoo_amount", "microsoft_amount", "status")
    def _compute_difference(self):
        for line in self:
            expected = line.status == reconcile.LineState.EXPECTED
            line.difference = 0.0 if expected else line.microsoft_amount - line.odoo_amount


class CspConnection(models.Model):
    _inherit = "csp.connection"

    billing_currency_id = fields.Many2one(
        "res.currency",
        string="Partner Center Billing Currency",
        default=lambda self: self.env.company.currency_id,
        help="The currency Microsoft bills you in (your Partner Center billing profile): "
        "the reconciliation reads Partner Center's line items in it.",
    )

    def action_billing_reconcile_all(self):
        """Queue this month's and last month's reports of every mapped customer (Partner
        Center lists both; last month is compared as billed from the 9th) and wake the
        job: the reading happens in the background, never in this request."""
        self.ensure_one()
        self._csp_check_can_sync()
        tenants = self.tenant_ids.filtered("partner_id")
        if not tenants:
            raise UserError(self.env._("No tenant of this connection is mapped to a customer."))
        Report = self.env["csp.billing.reconciliation"]
        reports = Report.sudo().browse()  # as _csp_for gives them: only code writes reports
        for month in reconcile.months_listed(Report._csp_today()):
            reports |= Report._csp_for(tenants, month)
        reports.write({"state": "queued", "message": False})
        self.env.ref("csp_connector_billing.ir_cron_csp_billing_reconcile").sudo()._trigger()
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector_billing.csp_billing_reconciliation_action",
            domain=[("id", "in", reports.ids)],
        )


class CspTenant(models.Model):
    _inherit = "csp.tenant"

    def action_billing_reconcile(self):
        """This customer's report of this month, read now (one customer's items)."""
        self.ensure_one()
        self._csp_check_can_sync()
        if not self.partner_id:
            raise UserError(self.env._("Map this tenant to a customer first."))
        Report = self.env["csp.billing.reconciliation"]
        report = Report._csp_for(self, first_of_month(Report._csp_today()))
        report._csp_reconcile()
        return self.env["ir.actions.act_window"]._csp_window(
            "csp.billing.reconciliation", res_id=report.id
        )
