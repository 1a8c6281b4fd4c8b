# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The reconciliation report: per customer and month, either Partner Center's unbilled
reconciliation line items against the cost lines Odoo computed (pro-rata adjustments and
the recurring cost of each charge cycle), or, once Microsoft has invoiced the month, its
invoice's reconciliation line items (licences and Azure) against what Odoo invoiced the
customer (Microsoft's cost, Odoo's sale, the margin); each difference with its likely
cause, in one model of differences and causes (billing/reconcile.py's).

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
KINDS = [("unbilled", "Costs (before Microsoft's invoice)"), ("billed", "Microsoft's invoice")]
LINE_KINDS = [(reconcile.LICENCE, "Licence"), (reconcile.AZURE_KIND, "Azure consumption")]
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
    kind = fields.Selection(
        KINDS, string="Compared With", default="unbilled", required=True, readonly=True,
        index=True,
        help="Costs: Partner Center's unbilled line items against the costs Odoo recorded. "
        "Microsoft's invoice: the invoice's line items against what Odoo invoiced the "
        "customer for the month.",
    )  # fmt: skip
    invoice_numbers = fields.Char(
        string="Microsoft Invoice", readonly=True,
        help="Microsoft's invoice(s) of the month compared (billed reconciliation).",
    )  # fmt: skip
    microsoft_cost = fields.Monetary(
        readonly=True, help="What Microsoft's invoice charges for this customer's month."
    )
    odoo_sale = fields.Monetary(
        readonly=True,
        help="What the customer's posted invoices sell of the same subscriptions and Azure "
        "consumption for the month (untaxed).",
    )  # fmt: skip
    margin = fields.Monetary(readonly=True, help="Odoo's sale minus Microsoft's cost.")
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
        ("tenant_month_unique", "unique(csp_tenant_id, month, kind)",
         "One reconciliation per customer tenant, month and comparison."),
    ]  # fmt: skip

    @api.depends("csp_tenant_id", "month", "kind")
    def _compute_name(self):
        for record in self:
            who = record.partner_id.display_name or record.csp_tenant_id.name or ""
            when = record.month.strftime("%B %Y") if record.month else ""
            record.name = f"{who} \N{EN DASH} {when}"
            if record.kind == "billed":
                record.name += " (" + self.env._("Microsoft's invoice") + ")"

    @api.depends("month", "billed", "state")
    def _compute_billing_note(self):
        for record in self:
            unread = record.state in ("queued", "failed")
            record.billing_note = (
                reconcile.not_billed_note(record.month)
                if record.month and not record.billed and not unread and record.kind == "unbilled"
                else False
            )

    # -- starting ---------------------------------------------------------------------

    @api.model
    def _csp_today(self):
        """Partner Center's billing periods are UTC months."""
        return fields.Datetime.now().date()

    @api.model
    def _csp_for(self, tenants, month, kind="unbilled"):
        """The (sudo) reports of ``tenants`` for ``month`` and ``kind``, created when
        missing."""
        Report = self.sudo()
        found = Report.search([("csp_tenant_id", "in", tenants.ids), ("month", "=", month),
                               ("kind", "=", kind)])  # fmt: skip
        missing = tenants - found.csp_tenant_id
        created = Report.create(
            [{"csp_tenant_id": t.id, "connection_id": t.connection_id.id, "month": month,
              "kind": kind} for t in missing]
        )  # fmt: skip
        return found | created

    @api.model
    def _csp_last_invoiced_month(self):
        """The latest month Microsoft has invoiced (its invoice: the 6th to 8th of the next)."""
        today = self._csp_today()
        previous = first_of_month(first_of_month(today) - dt.timedelta(days=1))
        if reconcile.is_billed(previous, today):
            return previous
        return first_of_month(previous - dt.timedelta(days=1))

    def action_reconcile_again(self):
        """Read this report's month again, now (one customer: a short request)."""
        self.csp_tenant_id._csp_check_can_sync()
        for record in self:
            record.sudo()._csp_run()
        return True

    def action_print(self):
        """The printable report (PDF) of these reconciliations."""
        self.check_access("read")
        return self.env.ref("csp_connector_billing.action_report_csp_reconciliation").report_action(
            self
        )

    def _csp_run(self, items=None):
        """Fill this report (sudo) the way its kind compares."""
        if self.kind == "billed":
            return self._csp_reconcile_billed(items)
        return self._csp_reconcile(items)

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
        return self._csp_store(lines, billed, currency)

    def _csp_store(self, lines, billed, currency, **extra):
        """Replace the report's lines with ``lines`` (values) and write its counts."""
        to_check = [values for values in lines if values["status"] in TO_CHECK]
        self.line_ids.unlink()
        self.write({
            **extra,
            "state": reconcile.report_state([values["status"] for values in lines], billed).value,
            "billed": billed,
            "message": False,
            "currency_id": currency.id,
            "read_date": fields.Datetime.now(),
            "matched_count": sum(values["status"] == "matched" for values in lines),
            "expected_count": sum(values["status"] == "expected" for values in lines),
            "difference_count": len(to_check),
            "total_difference": sum(values["difference"] for values in to_check),
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
            "difference": -adjustment.cost_amount,
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
                return self._csp_run(items)
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
        expected = values["status"] == reconcile.LineState.EXPECTED
        values["difference"] = 0.0 if expected else (
            values.get("microsoft_amount", 0.0) - values.get("odoo_amount", 0.0)
        )  # fmt: skip
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

    # -- Microsoft's invoice against the customer's invoices ----------------------------

    @api.model
    def _csp_read_invoice(self, connection, currency, month):
        """(invoice ids, line items) of Microsoft's invoice(s) of ``month`` in
        ``currency``, every customer's, every page proven whole; ((), []) when Microsoft
        has not issued it. Raises BillingReadError."""
        with connection._csp_call_microsoft(explain=False) as http:
            client = connection._csp_partner_center(http)
            ids = reconcile.month_invoices(line_items.invoices(client), month, currency.name)
            items = [item for invoice in ids
                     for item in line_items.invoice_line_items(client, invoice)]  # fmt: skip
        return tuple(ids), items

    def _csp_reconcile_billed(self, read=None):
        """Fill this billed report (sudo) from ``read`` ((invoice ids, items); read here
        when None). A read that failed, or was not proven whole, writes no line: it is
        stored, explained and logged, and never raises."""
        self.ensure_one()
        connection = self.connection_id
        currency = connection.billing_currency_id or connection.company_id.currency_id
        if read is None:
            try:
                read = self._csp_read_invoice(connection, currency, self.month)
            except errors.MicrosoftError as exc:
                return self._csp_failed(exc.user_message())
        invoice_ids, items = read
        if not invoice_ids:
            self.line_ids.unlink()
            self.write({
                "state": reconcile.ReportState.NOT_BILLED.value, "billed": False,
                "currency_id": currency.id, "read_date": fields.Datetime.now(),
                "invoice_numbers": False, "matched_count": 0, "expected_count": 0,
                "difference_count": 0, "total_difference": 0.0, "microsoft_cost": 0.0,
                "odoo_sale": 0.0, "margin": 0.0,
                "message": self.env._(
                    "Microsoft has not issued its invoice for %(month)s in %(currency)s yet "
                    "(it does between the 6th and 8th of the next month). Reconcile again "
                    "once it is in Partner Center.",
                    month=self.month.strftime("%B %Y"), currency=currency.name,
                ),
            })  # fmt: skip
            return True
        tenant = self.csp_tenant_id
        sales = self._csp_reconcile_sales(tenant, self.month, currency)
        subscriptions = (
            self.env["csp.subscription"].with_context(active_test=False)
            .search([("csp_tenant_id", "=", tenant.id)])
        )  # fmt: skip
        yearly = [s.microsoft_id for s in subscriptions
                  if s.microsoft_id and (s.billing_cycle or "").lower() == "annual"]  # fmt: skip
        report = reconcile.reconcile_billed(
            tenant.tenant_id, self.month, items, sales, invoice_ids, yearly
        )
        by_id = {s.microsoft_id.lower(): s for s in subscriptions if s.microsoft_id}
        lines = [values for row in report.rows for values in self._csp_row_values(row, by_id)]
        return self._csp_store(
            lines, True, currency, invoice_numbers=", ".join(invoice_ids),
            microsoft_cost=float(report.cost), odoo_sale=float(report.sale),
            margin=float(report.margin),
        )  # fmt: skip

    @api.model
    def _csp_row_values(self, row, by_id):
        """The lines of one :class:`reconcile.Row`: the row with its first difference,
        then one line per further difference (no amounts: the sums stay the row's)."""
        subscription = by_id.get(row.key)
        base = {
            "line_kind": row.kind,
            "product_label": row.label or (subscription.display_name if subscription else ""),
            "subscription_id": subscription.id if subscription else False,
            "microsoft_subscription_id": row.key if row.kind == reconcile.LICENCE else False,
        }
        differences = list(row.differences) or [None]
        result = []
        for position, difference in enumerate(differences):
            values = dict(base)
            values.update({
                "status": (difference.state if difference else reconcile.LineState.MATCHES).value,
                "cause": difference.kind.value if difference else False,
                "explanation": difference.cause if difference else False,
                "difference": float(difference.amount) if difference else 0.0,
            })  # fmt: skip
            if position == 0:
                values.update({
                    "microsoft_amount": float(row.cost),
                    "sale_amount": float(row.sale),
                    "microsoft_quantity": row.microsoft_seats or 0,
                    "odoo_quantity": row.odoo_seats or 0,
                    "microsoft_unit_price": float(row.unit_price or 0),
                })  # fmt: skip
            result.append(values)
        return result

    @api.model
    def _csp_reconcile_sales(self, tenant, month, currency):
        """The customer's sales of ``month`` (billing/reconcile.py ``Sale``): each line of
        its posted customer invoices and credit notes (in the connection's company) that
        :meth:`_csp_reconcile_sale_key` attributes to a subscription of ``tenant`` or to
        its Azure consumption in that month, in ``currency`` (untaxed, a credit note's
        negative). Add-ons add their own sales by extending this method or that one."""
        partner = tenant.partner_id.commercial_partner_id
        if not partner:
            return []
        following = reconcile.next_month(month)
        # a period sold is invoiced at its start (pre-paid) or after it (post-paid), and a
        # change with a later invoice: every posted invoice from the month on is read
        # read as code: the job's user (the integrator) has no accounting rights; the
        # lines read are the connection's company's, and only their sums are stored
        moves = self.env["account.move"].sudo().search([
            ("move_type", "in", ("out_invoice", "out_refund")), ("state", "=", "posted"),
            ("commercial_partner_id", "=", partner.id),
            ("company_id", "=", tenant.connection_id.company_id.id),
            ("invoice_date", ">=", month - dt.timedelta(days=31)),
        ])  # fmt: skip
        context = self._csp_sale_context(tenant)
        sales = []
        for line in moves.invoice_line_ids.filtered(lambda item: item.display_type == "product"):
            found = self._csp_reconcile_sale_key(line, context)
            if not found:
                continue
            key, recurring, day = found
            if not day or not month <= day < following:
                continue
            sign = -1 if line.move_id.move_type == "out_refund" else 1
            amount = line.currency_id._convert(
                line.price_subtotal, currency, line.company_id,
                line.move_id.invoice_date or fields.Date.today(),
            )  # fmt: skip
            sales.append(reconcile.sale(
                key, sign * amount, sign * line.quantity, recurring,
                amount / line.quantity if line.quantity else None, line.name,
            ))  # fmt: skip
        return sales

    @api.model
    def _csp_sale_context(self, tenant):
        """What :meth:`_csp_reconcile_sale_key` needs about ``tenant``: its subscriptions
        by id and by product, its adjustments by contract line."""
        subscriptions = (
            self.env["csp.subscription"].with_context(active_test=False)
            .search([("csp_tenant_id", "=", tenant.id)])
        )  # fmt: skip
        by_product = {}
        for subscription in subscriptions.filtered("product_id"):
            by_product.setdefault(subscription.product_id.id, []).append(subscription)
        adjustments = self.env["csp.billing.adjustment"].search(
            [("subscription_id", "in", subscriptions.ids), ("contract_line_id", "!=", False)]
        )
        by_line = {}
        for adjustment in adjustments:
            by_line.setdefault(adjustment.contract_line_id.id, adjustment)
        return {"subscriptions": subscriptions, "by_product": by_product, "by_line": by_line}

    @api.model
    def _csp_reconcile_sale_key(self, line, context):
        """(key, recurring, day) of a posted invoice ``line``, or None when it sells
        nothing of Microsoft's: ``key`` a subscription's Microsoft id (or
        billing/reconcile.py's ``AZURE``), ``recurring`` whether it sells the
        subscription's period (its seats) rather than a change, ``day`` a day of the
        month it sells. The seam for other Microsoft lines (Azure consumption): write
        the invoice line's ``csp_reconcile_key`` (``reconcile.AZURE``) and
        ``csp_period_start`` (a day of the usage's month), or extend this method.

        A contract line of a subscription sells the period it invoiced; a change's
        one-shot line (a pro-rata adjustment) the month of the change; any other line of
        a product only one subscription of the customer has, that subscription's period
        of the invoice's date."""
        if line.csp_reconcile_key:
            key = line.csp_reconcile_key.strip()
            day = line.csp_period_start or line.move_id.invoice_date
            return key, False, day
        subscriptions = context["subscriptions"]
        contract_line = line.contract_line_id
        subscription = contract_line.csp_subscription_id
        if subscription and subscription in subscriptions:
            day = line.csp_period_start or line.move_id.invoice_date
            return subscription.microsoft_id, True, day
        adjustment = context["by_line"].get(contract_line.id) if contract_line else None
        if adjustment:
            when = adjustment.changed_at or adjustment.period_start
            return adjustment.subscription_id.microsoft_id, False, fields.Date.to_date(when)
        matches = context["by_product"].get(line.product_id.id, [])
        if len(matches) == 1 and not contract_line:
            day = line.csp_period_start or line.move_id.invoice_date
            return matches[0].microsoft_id, True, day
        return None

    @api.model
    def _csp_cron_billed(self, connection, currency, month, records, testing):
        """The job's billed reports of one connection and month: Microsoft's invoice read
        once, each customer's report filled and committed."""
        try:
            read = self._csp_read_invoice(connection, currency, month)
        except errors.MicrosoftError as exc:
            for record in records:
                record._csp_failed(exc.user_message())
            return
        invoice_ids, items = read
        grouped = reconcile.items_by_customer(items)
        for record in records:
            mine = grouped.get(reconcile.customer_key(record.csp_tenant_id.tenant_id), [])
            record._csp_reconcile_one((invoice_ids, mine))
            if not testing:
                self.env.cr.commit()  # pylint: disable=invalid-commit

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
            key = (record.connection_id, record.month, record.kind)
            groups.setdefault(key, self.browse())
            groups[key] |= record
        for (connection, month, kind), records in groups.items():
            currency = connection.billing_currency_id or connection.company_id.currency_id
            if kind == "billed":
                self._csp_cron_billed(connection, currency, month, records, testing)
                continue
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
        readonly=True,
        help="Costs: Microsoft's charge minus Odoo's cost; none on an expected line "
        "(Microsoft has not billed it yet). Microsoft's invoice: the amount at stake, what "
        "the customer's invoices miss (positive) or hold that Microsoft did not bill "
        "(negative).",
    )  # fmt: skip
    kind = fields.Selection(related="reconciliation_id.kind", store=True, string="Compared With")
    line_kind = fields.Selection(LINE_KINDS, string="Type", readonly=True)
    product_label = fields.Char(string="Product", readonly=True)
    sale_amount = fields.Monetary(
        string="Odoo Sale", readonly=True,
        help="What the customer's posted invoices of the month sell of it (untaxed).",
    )  # fmt: skip
    margin = fields.Monetary(
        compute="_compute_margin", store=True, help="Odoo's sale minus Microsoft's cost."
    )

    @api.depends("sale_amount", "microsoft_amount", "kind")
    def _compute_margin(self):
        for line in self:
            billed = line.kind == "billed"
            line.margin = line.sale_amount - line.microsoft_amount if billed else 0.0


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

    def action_billing_reconcile_invoice(self):
        """Queue the reports of the last month Microsoft has invoiced (its invoice against
        the customers' invoices) of every mapped customer, and wake the job."""
        self.ensure_one()
        self._csp_check_can_sync()
        tenants = self.tenant_ids.filtered("partner_id")
        if not tenants:
            raise UserError(self.env._("No tenant of this connection is mapped to a customer."))
        Report = self.env["csp.billing.reconciliation"]
        reports = Report._csp_for(tenants, Report._csp_last_invoiced_month(), "billed")
        reports.write({"state": "queued", "message": False})
        self.env.ref("csp_connector_billing.ir_cron_csp_billing_reconcile").sudo()._trigger()
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector_billing.csp_billing_reconciliation_action",
            domain=[("id", "in", reports.ids)],
        )


class CspTenant(models.Model):
    _inherit = "csp.tenant"

    def action_billing_reconcile_invoice(self):
        """This customer's last month Microsoft has invoiced: its invoice against the
        customer's invoices, read now."""
        self.ensure_one()
        self._csp_check_can_sync()
        if not self.partner_id:
            raise UserError(self.env._("Map this tenant to a customer first."))
        Report = self.env["csp.billing.reconciliation"]
        report = Report._csp_for(self, Report._csp_last_invoiced_month(), "billed")
        report._csp_reconcile_billed()
        return self.env["ir.actions.act_window"]._csp_window(
            "csp.billing.reconciliation", res_id=report.id
        )

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
