# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Azure usage per customer, Azure subscription, meter and charge period (what
billing/azure.py aggregated from Microsoft's usage export), and the customer lines it
becomes: one per product and period on the customer's contract, or a draft invoice."""

import logging
from decimal import Decimal

from odoo import Command, fields, models

from ..billing import azure, reconcile, wording

_logger = logging.getLogger(__name__)

USAGE_FIELDS = ("csp_tenant_id", "partner_id", "period_start", "period_end", "billed",
                "invoice_number", "subscription_ref", "subscription_name", "meter_category",
                "meter_subcategory", "meter_name", "meter_region", "unit", "quantity",
                "cost", "list_amount", "credit", "sale_amount", "markup", "records",
                "currency_id", "product_id", "rule_id", "removed")  # fmt: skip


class AzureUnmapped(Exception):
    """A customer's meters that no rule maps (and no fallback product)."""


def _key(key):
    return "|".join(
        (key.customer, key.subscription, key.category, key.subcategory, key.name,
         key.region, key.unit, key.period_start.isoformat(), key.period_end.isoformat())
    )  # fmt: skip


def _money(value, digits=2):
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-digits))


class CspAzureUsage(models.Model):
    _name = "csp.azure.usage"
    _inherit = ["csp.code.guard"]
    _description = "Azure Usage"
    _order = "period_start desc, partner_id, meter_category, meter_name, id"

    connection_id = fields.Many2one(
        "csp.connection", required=True, readonly=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="connection_id.company_id", store=True, index=True)
    csp_tenant_id = fields.Many2one("csp.tenant", string="Tenant", readonly=True, index=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True, index=True)
    key = fields.Char(required=True, readonly=True)
    period_start = fields.Date(string="From", readonly=True, index=True)
    period_end = fields.Date(string="To", readonly=True)
    billed = fields.Boolean(
        readonly=True, help="From Microsoft's invoice (billed usage), not the unbilled usage."
    )
    invoice_number = fields.Char(string="Microsoft Invoice", readonly=True)
    subscription_ref = fields.Char(string="Azure Subscription ID", readonly=True)
    subscription_name = fields.Char(string="Azure Subscription", readonly=True)
    meter_category = fields.Char(readonly=True)
    meter_subcategory = fields.Char(readonly=True)
    meter_name = fields.Char(readonly=True)
    meter_region = fields.Char(readonly=True)
    unit = fields.Char(readonly=True)
    quantity = fields.Float(digits=(16, 6), readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    cost = fields.Monetary(string="Microsoft Cost", readonly=True)
    list_amount = fields.Monetary(string="List Price Amount", readonly=True)
    credit = fields.Monetary(
        string="Partner Earned Credit", readonly=True,
        help="The list price amount less Microsoft's cost, where the file gives the credit.",
    )  # fmt: skip
    markup = fields.Float(string="Markup %", readonly=True)
    sale_amount = fields.Monetary(string="Customer Amount", readonly=True)
    records = fields.Integer(string="Usage Records", readonly=True)
    product_id = fields.Many2one("product.product", readonly=True)
    rule_id = fields.Many2one("csp.meter.rule", readonly=True, ondelete="set null")
    removed = fields.Boolean(
        readonly=True, help="Microsoft's latest export of this period no longer has it."
    )

    _sql_constraints = [
        ("key_unique", "unique(connection_id, key)", "One usage row per meter and period."),
    ]

    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | set(USAGE_FIELDS) | {"key", "connection_id"}

    # -- import ------------------------------------------------------------------------

    def _csp_import(self, connection, totals, billed, source):
        """Apply one export's ``totals`` ({MeterKey: Totals}): per customer, its usage
        rows and its lines, each customer all or nothing (in a savepoint). Returns the
        counters and the messages (each customer that failed, in plain words)."""
        counters = {"created": 0, "updated": 0, "skipped": 0, "errors": 0}
        messages = []
        by_customer = {}
        for key, total in totals.items():
            by_customer.setdefault(key.customer, {})[key] = total
        tenants = {
            t.tenant_id.lower(): t
            for t in self.env["csp.tenant"]
            .with_context(active_test=False)
            .search([("connection_id", "=", connection.id)])
        }
        rules = (
            self.env["csp.meter.rule"]
            .search([("company_id", "=", connection.company_id.id)])
            ._csp_rules()
        )
        fallback = connection.azure_fallback_product_id.id
        for customer, customer_totals in sorted(by_customer.items()):
            tenant = tenants.get(customer)
            if not tenant or not tenant.partner_id:
                counters["skipped"] += 1
                name = next(iter(customer_totals.values())).customer_name or customer
                messages.append(
                    self.env._(
                        "%(name)s: Azure usage not invoiced, the tenant has no customer in "
                        "Odoo (set one on the tenant).",
                        name=name,
                    )
                )
                continue
            try:
                with self.env.cr.savepoint():
                    done = self._csp_import_customer(
                        connection, tenant, customer_totals, rules, fallback, billed, source
                    )
            except AzureUnmapped as exc:
                counters["errors"] += 1
                messages.append(str(exc))
                tenant._csp_record_step_error("azure", exc, str(exc))
                continue
            counters["created"] += done["created"]
            counters["updated"] += done["updated"]
            tenant._csp_step_succeeded("azure")
        return counters, messages

    def _csp_import_customer(self, connection, tenant, totals, rules, fallback, billed, source):
        partner = tenant.partner_id.commercial_partner_id
        done = {"created": 0, "updated": 0}
        periods = {(k.period_start, k.period_end) for k in totals}
        if not billed:  # a period Microsoft has invoiced is no longer unbilled
            settled = self.search(
                [("connection_id", "=", connection.id), ("csp_tenant_id", "=", tenant.id),
                 ("billed", "=", True),
                 ("period_start", "in", sorted({p[0] for p in periods}))]
            ).mapped("period_start")  # fmt: skip
            totals = {k: t for k, t in totals.items() if k.period_start not in settled}
            periods = {(k.period_start, k.period_end) for k in totals}
        lines, unmapped = azure.customer_lines(
            totals, rules, fallback, {tenant.tenant_id.lower(): partner.csp_azure_markup}
        )
        if unmapped:
            meters = sorted({azure.meter_label(u.key) for u in unmapped})
            raise AzureUnmapped(
                self.env._(
                    "%(customer)s: Azure usage not invoiced, no meter rule maps %(meters)s "
                    "and there is no fallback product. Add a meter rule (Microsoft CSP > "
                    "Configuration > Azure Meter Rules) or set the connection's fallback "
                    "product; the next run invoices the period whole.",
                    customer=partner.display_name,
                    meters=", ".join(meters),
                )
            )
        currency = connection.company_id.currency_id
        for period in sorted(periods):
            keys = {k: t for k, t in totals.items() if (k.period_start, k.period_end) == period}
            done_rows = self._csp_store_rows(connection, tenant, partner, keys, rules, fallback,
                                             billed, currency)  # fmt: skip
            done["created"] += done_rows["created"]
            done["updated"] += done_rows["updated"]
            wanted = [line for line in lines if (line.period_start, line.period_end) == period]
            written = self._csp_period_lines(connection, partner, period, wanted, source)
            done["updated"] += written
        return done

    def _csp_store_rows(self, connection, tenant, partner, totals, rules, fallback, billed,
                        currency):  # fmt: skip
        """The period's usage rows as ``totals`` says; rows no longer there are marked
        removed; unchanged rows are not written."""
        start = next(iter(totals)).period_start
        existing = {
            row.key: row
            for row in self.search(
                [("connection_id", "=", connection.id), ("csp_tenant_id", "=", tenant.id),
                 ("period_start", "=", start)]
            )
        }  # fmt: skip
        markup_default = partner.csp_azure_markup
        creates = []
        done = {"created": 0, "updated": 0}
        for key, total in totals.items():
            rule = azure.match_rule(rules, key)
            markup = azure.markup_for(rule, markup_default)
            listed = round(total.list_amount, 6)
            values = {
                "csp_tenant_id": tenant.id,
                "partner_id": partner.id,
                "period_start": key.period_start,
                "period_end": key.period_end,
                "billed": billed,
                "invoice_number": total.invoice or False,
                "subscription_ref": key.subscription or False,
                "subscription_name": total.subscription_name or False,
                "meter_category": key.category or False,
                "meter_subcategory": key.subcategory or False,
                "meter_name": key.name or False,
                "meter_region": key.region or False,
                "unit": key.unit or False,
                "quantity": round(total.quantity, 6),
                "cost": round(total.cost, 2),
                "list_amount": round(listed, 2),
                "credit": round(total.credit, 2),
                "markup": float(markup),
                "sale_amount": float(_money(Decimal(str(listed)) * (100 + markup) / 100)),
                "records": total.records,
                "currency_id": currency.id,
                "product_id": rule.product if rule else fallback,
                "rule_id": rule.id if rule else False,
                "removed": False,
            }
            row = existing.pop(_key(key), None)
            if row is None:
                creates.append({**values, "connection_id": connection.id, "key": _key(key)})
                continue
            changed = {name: value for name, value in values.items() if not _same(row, name, value)}
            if changed:
                row._csp_code().write(changed)
                done["updated"] += 1
        if creates:
            self._csp_code().create(creates)
            done["created"] += len(creates)
        gone = self.browse([row.id for row in existing.values() if not row.removed])
        if gone:
            gone._csp_code().write({"removed": True})
            done["updated"] += len(gone)
        return done

    # -- the customer's lines ---------------------------------------------------------

    def _csp_existing_lines(self, partner, start):
        """The customer's Azure lines of the period starting ``start``: contract lines
        (not cancelled) and lines of invoices made without a contract (not cancelled)."""
        contract_lines = self.env["contract.line"].search(
            [("csp_azure_partner_id", "=", partner.id), ("csp_azure_period", "=", start),
             ("is_canceled", "=", False)]
        )  # fmt: skip
        move_lines = (
            self.env["account.move.line"]
            .sudo()
            .search(
                [("csp_azure_partner_id", "=", partner.id), ("csp_azure_period", "=", start),
                 ("contract_line_id", "=", False), ("parent_state", "!=", "cancel"),
                 ("display_type", "=", "product")]
            )
        )  # fmt: skip
        return contract_lines, move_lines

    def _csp_period_lines(self, connection, partner, period, wanted, source):
        """The customer's lines of one period brought to ``wanted`` (billing/azure.py's
        Lines): not yet invoiced, replaced; invoiced, left alone and the difference one
        adjustment line. Returns the number of lines written."""
        start, end = period
        contract_lines, move_lines = self._csp_existing_lines(partner, start)
        currency = connection.company_id.currency_id
        precision = self.env["decimal.precision"]
        price_digits = precision.precision_get("Product Price")
        qty_digits = precision.precision_get("Product Unit of Measure")
        existing = {}
        for line in contract_lines:
            item = azure.Existing(
                line.id, line.csp_azure_kind, _money(line.quantity * line.price_unit),
                bool(line.last_date_invoiced), line.quantity,
                _money(line.price_unit, price_digits), line.name or "",
            )  # fmt: skip
            existing.setdefault(line.product_id.id, []).append(item)
        for line in move_lines:
            item = azure.Existing(
                -line.id, line.csp_azure_kind, _money(line.quantity * line.price_unit),
                line.parent_state == "posted", line.quantity,
                _money(line.price_unit, price_digits), line.name or "",
            )  # fmt: skip
            existing.setdefault(line.product_id.id, []).append(item)
        wanted_by_product = {line.product: line for line in wanted}
        lang = partner.lang
        period_text = wording.period(start, end, lang)
        written = 0
        for product_id in sorted(set(existing) | set(wanted_by_product)):
            product = self.env["product.product"].browse(product_id)
            line = wanted_by_product.get(product_id)
            if line is not None:
                quantity, price = line.price(currency.decimal_places, price_digits, qty_digits)
                amount = line.amount
                unit = next(iter(line.units)) if len(line.units) == 1 else ""
                name = azure.line_name(product.display_name, period_text,
                                       quantity if unit else 0, unit)  # fmt: skip
                if not unit:
                    name = azure.line_name(product.display_name, period_text, 0, "")
            else:
                quantity, price, amount, name = 0.0, Decimal(0), Decimal(0), ""
            plan = azure.plan_product(
                existing.get(product_id, []), quantity, price, amount, name,
                azure.adjustment_name(product.display_name, period_text),
            )  # fmt: skip
            if not plan.changes():
                continue
            cause = ""
            target = plan.create or (plan.write[1] if plan.write else None)
            if target is not None and target.kind == azure.ADJUSTMENT:
                cause = self.env._(
                    "%(origin)s gives %(amount)s for this period; %(invoiced)s was already "
                    "invoiced: the difference is invoiced on its own.",
                    origin=source, amount=amount, invoiced=target.invoiced_amount,
                )  # fmt: skip
            for item in plan.cancel:
                written += self._csp_cancel_line(item)
            if plan.write:
                item, target = plan.write
                self._csp_write_line(item, target, cause)
                written += 1
            if plan.create:
                self._csp_create_line(connection, partner, product, period, plan.create, cause)
                written += 1
        return written

    def _csp_cancel_line(self, item):
        if item.id > 0:
            line = self.env["contract.line"].browse(item.id)
            line.write({"is_canceled": True, "date_end": line.date_start})
        else:
            move_line = self.env["account.move.line"].sudo().browse(-item.id)
            move_line.move_id.write({"invoice_line_ids": [Command.delete(move_line.id)]})
        return 1

    def _csp_write_line(self, item, target, cause):
        values = {"quantity": target.quantity, "price_unit": float(target.price_unit),
                  "name": target.name, "csp_azure_cause": cause or False}  # fmt: skip
        if item.id > 0:
            self.env["contract.line"].browse(item.id).write(values)
        else:
            move_line = self.env["account.move.line"].sudo().browse(-item.id)
            move_line.move_id.write({"invoice_line_ids": [Command.update(move_line.id, values)]})

    def _csp_azure_contract(self, connection, partner):
        """The customer's newest running monthly sale contract (else any sale contract).
        OCA contract ends a contract whose lines all end: one that only had Azure lines
        (one-shot) is still the customer's Azure contract."""
        today = fields.Date.context_today(self)
        contracts = self.env["contract.contract"].search(
            [("commercial_partner_id", "=", partner.id), ("contract_type", "=", "sale"),
             ("company_id", "=", connection.company_id.id), ("line_recurrence", "=", False),
             "|", "|", ("date_end", "=", False), ("date_end", ">=", today),
             ("contract_line_ids.csp_azure_partner_id", "!=", False)],
            order="date_start desc, id desc",
        )  # fmt: skip
        monthly = contracts.filtered(
            lambda c: c.recurring_rule_type == "monthly" and c.recurring_interval == 1
        )
        return (monthly or contracts)[:1]

    def _csp_create_line(self, connection, partner, product, period, target, cause):
        start, end = period
        marks = {
            "csp_azure_partner_id": partner.id,
            "csp_azure_period": start,
            "csp_azure_period_end": end,
            "csp_azure_kind": target.kind,
            "csp_azure_cause": cause or False,
        }
        values = {"product_id": product.id, "name": target.name, "quantity": target.quantity,
                  "price_unit": float(target.price_unit), **marks}  # fmt: skip
        contract = self._csp_azure_contract(connection, partner)
        invoice_marks = {"csp_reconcile_key": reconcile.AZURE, "csp_period_start": start}
        if contract:
            # one-shot: invoiced once, with the contract's next invoice (a contract with
            # one recurrence for all its lines: they share its next invoice date)
            due = contract.recurring_next_date or contract.date_start
            self.env["contract.line"].create(
                {
                    **values,
                    "contract_id": contract.id,
                    "uom_id": product.uom_id.id,
                    "date_start": due,
                    "date_end": due,
                    "recurring_next_date": due,
                    "recurring_rule_type": contract.recurring_rule_type,
                    "recurring_interval": contract.recurring_interval,
                    "recurring_invoicing_type": "pre-paid",
                }
            )
            return
        # no contract: the customer's draft invoice of the period (the billing step has
        # no accounting rights of its own: this part is its own, checked work)
        Move = self.env["account.move"].sudo().with_company(connection.company_id)
        draft = (
            self.env["account.move.line"]
            .sudo()
            .search(
                [("csp_azure_partner_id", "=", partner.id), ("csp_azure_period", "=", start),
                 ("parent_state", "=", "draft"), ("contract_line_id", "=", False)],
                limit=1,
            )
            .move_id
        )  # fmt: skip
        values.update(invoice_marks)
        if draft:
            draft.write({"invoice_line_ids": [Command.create(values)]})
        else:
            Move.create(
                {"move_type": "out_invoice", "partner_id": partner.id,
                 "company_id": connection.company_id.id,
                 "invoice_line_ids": [Command.create(values)]}
            )  # fmt: skip

    # -- the customer's figures --------------------------------------------------------

    def _csp_month_usage(self, partners, month):
        """{partner id: the customer amount of the month starting ``month``}."""
        groups = self.read_group(
            [("partner_id", "in", partners.ids), ("period_start", "=", month),
             ("removed", "=", False)],
            ["sale_amount:sum"], ["partner_id"],
        )  # fmt: skip
        return {g["partner_id"][0]: g["sale_amount"] for g in groups}


def _same(record, name, value):
    current = record[name]
    if isinstance(current, models.BaseModel):
        return current.id == (value or False)
    if isinstance(current, float) or isinstance(value, float):
        return abs((current or 0.0) - (value or 0.0)) < 1e-6
    return (current or False) == (value or False)
