# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A subscription's product, cost and contract line."""

import datetime as dt
import logging
from decimal import Decimal

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from odoo.addons.csp_connector.models.csp_guard import code_env
from odoo.addons.csp_connector.sync import ledger

from ..billing import lines as line_rules
from ..billing import prorata, wording
from . import csp_billing_adjustment as adjustment_rules
from . import subscription_history

# the customer's side of these is cut where the recurring line bills the new quantity
CLIPPED = ("addQuantity", "removeQuantity", "cancelImmediate")
NOT_INVOICED = "(Microsoft's cost only: the contract line bills the new quantity for these days)"
FIRST_TERM = dt.timedelta(days=2)  # a start this close to the purchase: still its first term

_logger = logging.getLogger(__name__)


class ContractUnusable(UserError):
    """The contract the billing step picked for a subscription cannot take its line:
    what is wrong and how to fix it, in our words (never OCA contract's own text)."""

    def __init__(self, contract, what, fix):
        self.contract = contract
        self.what = what
        self.fix = fix
        env = contract.env
        super().__init__(
            env._(
                "The contract %(contract)s (%(customer)s) cannot be used: %(what)s. To fix "
                "it: %(fix)s.",
                contract=contract.sudo().display_name,
                customer=contract.sudo().partner_id.display_name,
                what=what,
                fix=fix,
            )
        )


class CspSubscription(models.Model):
    _inherit = "csp.subscription"

    product_id = fields.Many2one(
        "product.product", readonly=True, index=True, ondelete="set null",
        help="The product of this subscription's offer (internal reference = offer id).",
    )  # fmt: skip
    product_tmpl_id = fields.Many2one(
        "product.template", related="product_id.product_tmpl_id", store=True, index=True
    )
    contract_line_id = fields.Many2one(
        "contract.line", readonly=True, ondelete="set null", copy=False
    )
    billing_adjustment_ids = fields.One2many(
        "csp.billing.adjustment", "subscription_id", string="Pro-rata Adjustments"
    )
    cost_price = fields.Float(
        string="Microsoft Cost",
        digits="Product Price",
        help="What Microsoft charges per seat and billing period; the cost of the contract "
        "line and of pro-rata adjustments until the price sheet fills it.",
    )

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {"product_id", "contract_line_id"}

    def _csp_link_product(self):
        """Find or create the offer's product and link it; True when the link changed."""
        self.ensure_one()
        if not self.offer_id:
            return False
        if self.product_id.default_code == self.offer_id:
            return False  # linked already: no search on every run
        Product = self.env["product.product"].with_context(active_test=False)
        product = Product.search([("default_code", "=", self.offer_id)], limit=1)
        if not product:
            product = Product.create(
                {
                    "name": self.offer_name or self.friendly_name or self.offer_id,
                    "default_code": self.offer_id,
                    "type": "service",
                    "uom_id": self.env.ref("uom.product_uom_unit").id,
                    "uom_po_id": self.env.ref("uom.product_uom_unit").id,
                    "sale_ok": True,
                    "purchase_ok": True,
                    "list_price": 0.0,  # the MSP's price per seat: theirs to set
                }
            )
        if self.product_id == product:
            return False
        code_env(self).write({"product_id": product.id})
        return True

    def _csp_line_quantities(self):
        """{subscription id: the contract line's quantity} as the connection says."""
        quantities = {}
        for subscription in self:
            basis = subscription.connection_id.billing_quantity_basis
            if basis != line_rules.ASSIGNED or not subscription.subscribed_sku_id:
                quantities[subscription.id] = subscription.quantity
                continue
            sku = subscription.subscribed_sku_id
            siblings = self.search([("subscribed_sku_id", "=", sku.id), ("removed", "=", False)])
            shares = line_rules.assigned_shares(
                sku.consumed_units, [(s.id, s.quantity) for s in siblings]
            )
            quantities[subscription.id] = shares.get(subscription.id, 0)
        return quantities

    def _csp_contract_for(self):
        """The customer's newest active sale contract matching the billing cycle."""
        partner = self.partner_id.commercial_partner_id
        if not partner:
            return self.env["contract.contract"]
        today = fields.Date.context_today(self)
        contracts = self.env["contract.contract"].search(
            [
                ("commercial_partner_id", "=", partner.id),
                ("contract_type", "=", "sale"),
                ("company_id", "=", self.company_id.id or self.env.company.id),
                "|", ("date_end", "=", False), ("date_end", ">=", today),
            ]
        )  # fmt: skip
        chosen = line_rules.pick_contract(
            [
                {
                    "id": c.id,
                    "date_start": c.date_start,
                    "recurring_rule_type": c.recurring_rule_type,
                    "recurring_interval": c.recurring_interval,
                }
                for c in contracts
                if not c.line_recurrence
            ],
            self.billing_cycle,
        )
        return self.env["contract.contract"].browse(chosen["id"] if chosen else [])

    def _csp_sync_contract_line(self, quantity):
        """Create or update this subscription's contract line. Returns "created",
        "updated", None (nothing to do) or "missing" (no matching contract)."""
        self.ensure_one()
        line = self.contract_line_id
        if line and line.exists() and self._csp_line_elsewhere(line):
            self._csp_move_contract_line(self.env.user.partner_id)
            return self._csp_sync_contract_line(quantity) or "updated"
        if line and line.exists():
            values = {}
            if line.quantity != quantity:
                values["quantity"] = quantity
            if line.product_id != self.product_id and self.product_id:
                values["product_id"] = self.product_id.id
            name = self._csp_line_name(line.contract_id)
            if line.name != name:
                values["name"] = name
            if values:
                line.write(values)
                return "updated"
            return None
        line = self.env["contract.line"].search([("csp_subscription_id", "=", self.id)], limit=1)
        if not line:
            contract = self._csp_contract_for()
            if not contract:
                return "missing"
            self._csp_check_contract(contract)
            values = {
                "contract_id": contract.id,
                "product_id": self.product_id.id,
                "name": self._csp_line_name(contract),
                "quantity": quantity,
                "uom_id": self.env.ref("uom.product_uom_unit").id,
                "price_unit": self.product_id.lst_price,
                "csp_subscription_id": self.id,
                "csp_billed_since": fields.Datetime.now(),
                "date_start": contract.recurring_next_date or contract.date_start,
                "recurring_next_date": contract.recurring_next_date,
                # the contract's recurrence: OCA contract's line defaults (monthly,
                # pre-paid) win over it at create, invoicing a yearly line every month
                "recurring_rule_type": contract.recurring_rule_type,
                "recurring_interval": contract.recurring_interval,
                "recurring_invoicing_type": contract.recurring_invoicing_type,
            }
            try:
                line = self.env["contract.line"].create(values)
            except ValidationError as exc:  # OCA contract's own checks: said in our words
                _logger.info("Contract %s refused a line: %s", contract.id, exc)
                raise ContractUnusable(
                    contract,
                    self.env._(
                        "its dates refuse a new line starting %(start)s (start date, next "
                        "invoice date or end date)",
                        start=values["date_start"] or "?",
                    ),
                    self.env._(
                        "check those dates on the contract, or archive it and click Create "
                        "contracts on the tenant"
                    ),
                ) from None
            code_env(self).write({"contract_line_id": line.id})
            return "created"
        code_env(self).write({"contract_line_id": line.id})
        return self._csp_sync_contract_line(quantity) or "updated"

    def _csp_check_contract(self, contract):
        """Raise ContractUnusable when the billing step cannot add a line to
        ``contract`` (OCA contract would refuse it, or never invoice it)."""
        if not contract.date_start:
            what = self.env._("it has no start date")
            fix = self.env._("set its start date")
        elif not contract.recurring_next_date:
            what = self.env._("it has no next invoice date")
            fix = self.env._("set its next invoice date (Date of Next Invoice)")
        elif not contract.journal_id:
            what = self.env._("it has no journal to invoice on")
            fix = self.env._("set its journal")
        else:
            return
        raise ContractUnusable(
            contract,
            what,
            self.env._("%(fix)s, or archive it and click Create contracts on the tenant", fix=fix),
        )

    def _csp_words(self, contract):
        """(product name in the language of ``contract``'s customer, term, billing
        cycle): what wording.plan says of this subscription."""
        product = self.product_id.with_context(lang=contract.partner_id.lang or None)
        name = product.name or self.offer_name or self.friendly_name or self.offer_id
        return name, self.term_duration, self.billing_cycle

    def _csp_plan(self, contract):
        """The product, term and billing plan in the words of ``contract``'s customer."""
        return wording.plan(*self._csp_words(contract))

    def _csp_line_name(self, contract):
        """The recurring line's name: the plan and the service period (OCA contract's
        markers, replaced on each invoice)."""
        return wording.recurring_name(*self._csp_words(contract))

    def _csp_line_elsewhere(self, line):
        """Whether ``line`` is on a contract of another customer than this subscription's
        (its tenant's customer changed after the line was added)."""
        customer = self.partner_id.commercial_partner_id
        return line.contract_id.commercial_partner_id != customer

    def _csp_move_contract_line(self, author):
        """This subscription's line is on another customer's contract: it stops there
        after what it invoiced (never invoiced: cancelled) and lets go of the
        subscription, and the pro-rata lines not invoiced yet go with it to this
        customer's matching contract, where a new line continues at the same quantity
        (no such contract: the subscription waits for one, as any without a contract,
        and those pro-rata lines are cancelled). Both contracts and the subscription say
        so (``author`` signs the notes). True when it moved."""
        self.ensure_one()
        line = self.contract_line_id
        if not line or not self._csp_line_elsewhere(line):
            return False
        old = line.contract_id
        # the notes only, as superuser: the integrator reads contracts, never writes them
        old_contract = old.sudo()
        ended = self._csp_stop_line(line)
        line.write({"csp_subscription_id": False})
        code_env(self).write({"contract_line_id": False})
        pending = self.billing_adjustment_ids.contract_line_id.filtered(
            lambda one_shot: (
                one_shot.contract_id == old
                and not one_shot.last_date_invoiced
                and not one_shot.is_canceled
            )
        )
        new = self._csp_contract_for()
        new_line = self.env["contract.line"]
        if new:
            self._csp_sync_contract_line(line.quantity)
            new_line = self.contract_line_id
            pending.write({
                "contract_id": new.id,
                "date_start": new_line.next_period_date_start,
                "date_end": new_line.next_period_date_start,
                "recurring_next_date": new_line.recurring_next_date,
            })  # fmt: skip
        else:
            for one_shot in pending:
                one_shot.write({"is_canceled": True, "date_end": one_shot.date_start})
        self._csp_note_move(author, old_contract, ended, new.sudo(), new_line, len(pending))
        return True

    def _csp_note_move(self, author, old_contract, ended, new_contract, new_line, pending):
        """The notes of a move (_csp_move_contract_line), parameters escaped."""
        customer = self.partner_id.commercial_partner_id
        name = self.friendly_name or self.offer_name or self.microsoft_id
        outcome = (
            self.env._("ends on %(date)s, after the last period it invoiced", date=ended)
            if ended
            else self.env._("is cancelled (it invoiced nothing)")
        )
        where = new_contract.display_name or self.env._(
            "no contract yet (none matches: see the customer's activity)"
        )
        note = self.env._(
            "The Microsoft subscription %(subscription)s now belongs to %(customer)s (its "
            "tenant's customer changed): its line here %(outcome)s, and it moves to "
            "%(where)s. Pro-rata lines not invoiced yet: %(pending)s, %(fate)s.",
            subscription=name,
            customer=customer.display_name or self.env._("no customer"),
            outcome=outcome,
            where=where,
            pending=pending,
            fate=self.env._("moved with it") if new_contract else self.env._("cancelled"),
        )
        old_contract.message_post(body=note, author_id=author.id, subtype_xmlid="mail.mt_note")
        self.message_post(body=note, author_id=author.id, subtype_xmlid="mail.mt_note")
        if new_contract:
            new_contract.message_post(
                body=self.env._(
                    "The Microsoft subscription %(subscription)s moved here from %(former)s "
                    "of %(former_customer)s (its tenant's customer changed): line "
                    "%(line)s, with %(pending)s pro-rata line(s) not invoiced yet.",
                    subscription=name,
                    former=old_contract.display_name,
                    former_customer=old_contract.partner_id.display_name,
                    line=(new_line.name or "").split("\n")[0],
                    pending=pending,
                ),
                author_id=author.id,
                subtype_xmlid="mail.mt_note",
            )

    def _csp_first_period(self, line, term_start, quantity, settings, prices):
        """(cost, charge) lines of a subscription bought during the contract period before
        its line's first one (prorata.first_period_charge), or None."""
        wanted = line_rules.recurrence_for(self.billing_cycle)
        cycle = {("monthly", 1): "monthly", ("yearly", 1): "annual"}.get(wanted)
        start = term_start.replace(tzinfo=None)
        if (
            not cycle
            or not line.date_start
            or abs(start - (self.creation_date or start)) > FIRST_TERM
            or start.date() < line.contract_id.date_start
        ):
            # billed every 3 years, a renewed term (not a purchase), or bought before
            # the customer's contract began
            return None
        subscription = prorata.Subscription(
            self.microsoft_id, line.product_id.name or self.friendly_name, cycle, line.date_start
        )
        lines = tuple(
            prorata.first_period_charge(
                subscription,
                prorata.Change(
                    "purchase",
                    prorata.ChangeKind.PURCHASE,
                    term_start,
                    prorata.TimeSource.SUBSCRIPTION,
                    quantity,
                    price,
                ),
                line.date_start,
                settings,
            )
            for price in prices
        )
        return lines if lines[0] else None

    def _csp_sync_adjustments(self):
        """Bill what the recurring line does not: the first partial period of a
        subscription bought mid-period, and the seat changes and cancellation seen since
        its contract line was made (renewals are the recurring line's). One adjustment per
        pro-rata line (stable key: never twice), each on a one-shot line of the same
        contract, invoiced once with the contract's next invoice. Microsoft's cost covers
        its charge cycle; the customer's side of a seat change or a cancellation covers
        the days up to where the recurring line bills the new quantity, split at
        Microsoft's charge cycles (prorata.customer_lines): the first piece on the
        change's adjustment, each later one an adjustment of its own (cost 0: Microsoft
        bills those cycles at the new quantity itself); no day left, no line, the cost
        kept for the reconciliation. Returns the number of adjustments added."""
        self.ensure_one()
        line = self.contract_line_id
        cycle = line_rules.cycle(self.billing_cycle)
        if not line or not self.start_date or cycle not in line_rules.PRORATED:
            return 0
        if not line.recurring_next_date:
            return 0  # ended: nothing more goes on it
        since = line.csp_billed_since or line.create_date
        opening_quantity, term_start, changes = subscription_history.history_with_term(self, since)
        Adjustment = self.env["csp.billing.adjustment"]
        known = set(Adjustment.search([("subscription_id", "=", self.id)]).mapped("key"))
        contract = line.contract_id
        # the contract's currency comes from its journal, which the integrator (no
        # accounting rights) may not read: read it, and only it, as superuser
        currency = contract.sudo().currency_id or contract.company_id.currency_id
        settings = prorata.Settings(currency.decimal_places, self.connection_id.billing_rounding)
        digits = currency.decimal_places
        prices = [
            adjustment_rules.to_decimal(p, digits) for p in (self.cost_price, line.price_unit)
        ]
        pairs, billed = [], None
        first = self._csp_first_period(line, term_start, opening_quantity, settings, prices)
        if first and (first[0].key in known or line.price_unit):
            # billed once the line has your price (0 until then: nothing to bill yet)
            pairs.append(first)
            billed = (first[1],)  # what a refund within 24 hours gives the customer back
        subscription = prorata.Subscription(
            self.microsoft_id, line.product_id.name or self.friendly_name, cycle, term_start
        )
        if changes:
            costs, charges = (
                prorata.bill_changes(
                    subscription,
                    changes,
                    settings,
                    prorata.Opening(opening_quantity, price, term_start, opening_billed),
                )
                for price, opening_billed in zip(prices, (None, billed), strict=True)
            )
            pairs += zip(costs, charges, strict=True)
        last_day = self._csp_last_day_at_old_quantity(line)
        changes = {}  # change id: [(Microsoft's line or None, the customer's or None)]
        for cost, charge in pairs:
            if cost.key in known or cost.charge_type == "renew":  # renewals: the recurring line
                continue
            # the customer's recurring line bills the new quantity from its next period:
            # the customer's side covers the days up to then, cycle by cycle (a 7-day
            # cancellation included: the customer gets back every day invoiced from the
            # cancellation on, also those past Microsoft's cycle end, which Microsoft
            # never bills since it does not renew; days never invoiced are not refunded)
            customer = (
                prorata.customer_lines(charge, last_day, subscription)
                if cost.charge_type in CLIPPED
                else (charge,)
            )
            pieces = changes.setdefault(cost.change_id, [])
            pieces.append((cost, customer[0] if customer else None))
            for piece in customer[1:]:  # the next cycles: Microsoft's cost is its own charge
                if piece.key not in known:
                    pieces.append((None, piece))
                    known.add(piece.key)
            known.add(cost.key)
        return sum(len(self._csp_add_change(line, p, currency)) for p in changes.values())

    def _csp_last_day_at_old_quantity(self, line):
        """The last day the recurring ``line`` has invoiced, or will invoice, at the
        quantity it had before this sync: the day before its next period (pre-paid: the
        end of the period invoiced last; never invoiced: the day before it starts)."""
        if not line.next_period_date_start:  # it ends before another period
            return line.last_date_invoiced or line.date_start - dt.timedelta(days=1)
        return line.next_period_date_start - dt.timedelta(days=1)

    def _csp_add_change(self, line, pieces, currency):
        """One change's adjustments, one per piece (Microsoft's lines, each with the
        customer's side of its days, and the customer's later charge cycles), and ONE
        one-shot line on the contract's next invoice for the customer's side of them
        all (:meth:`_csp_change_line`). A piece without the customer's side (no day left
        for the customer) keeps Microsoft's cost only, with no line; one without
        Microsoft's (a later charge cycle, which Microsoft bills as its next cycle at the
        new quantity) is the customer's only, with a cost of 0."""
        billed = [charge for __, charge in pieces if charge is not None]
        one_shot = self._csp_change_line(line, pieces, billed, currency) if billed else False
        adjustments = self.env["csp.billing.adjustment"]
        for cost, charge in pieces:
            if charge is None:
                adjustments |= self._csp_create_adjustment(
                    cost, False, f"{cost.description} {NOT_INVOICED}", 0.0, currency
                )
            else:
                adjustments |= self._csp_create_adjustment(
                    cost or charge, one_shot, charge.description, float(charge.amount),
                    currency, customer_only=cost is None,
                )  # fmt: skip
        return adjustments

    def _csp_change_words(self, costs, billed, lang):
        """(what the change is in the customer's words, its signed seats)."""
        parts = [
            wording.Piece(c.period_start, c.period_end, c.billing_days, c.cycle_days, c.amount)
            for c in billed
        ]
        kind = costs[0].charge_type
        if kind == prorata.FIRST_DAYS:
            return wording.first_days(billed[0].quantity, parts, lang), billed[0].quantity
        if kind == "cancelImmediate":
            prorated = len(costs) == 1 and costs[0].prorated and costs[0].key.endswith(":refund")
            count = -max(c.quantity for c in billed)
            day = costs[0].changed_at.date()
            return wording.cancellation(day, parts, prorated, lang), count
        if kind in ("addQuantity", "removeQuantity"):
            new = next((c.quantity for c in billed if c.kind == prorata.LineKind.CHARGE), 0)
            old = next((c.quantity for c in billed if c.kind == prorata.LineKind.CREDIT), 0)
            return wording.seat_change(new - old, parts, lang), new - old
        return wording.charge(billed[0].quantity, parts, lang), billed[0].quantity

    def _csp_change_line(self, line, pieces, billed, currency):
        """The one-shot contract line of one change: the customer's words, the seats it
        changes at the pro-rated seat price (wording.line_amounts: quantity 1 at the
        total when no seat price gives it to the cent), its amount the total of the
        pieces; and why an accountant should check it, if anything."""
        contract = line.contract_id
        lang = contract.partner_id.lang
        costs = [cost or charge for cost, charge in pieces]
        what, count = self._csp_change_words(costs, billed, lang)
        total = sum((c.amount for c in billed), Decimal(0))
        price_digits = self.env["decimal.precision"].precision_get("Product Price")
        quantity, price = wording.line_amounts(total, count, price_digits, currency.decimal_places)
        reasons = wording.check_reasons(
            line.price_unit, self.cost_price, self._csp_recorded_late(costs[0].change_id)
        )
        return self.env["contract.line"].create(
            {
                "contract_id": contract.id,
                "product_id": line.product_id.id,
                "name": wording.change_name(self._csp_plan(contract), what),
                "quantity": quantity,
                "uom_id": line.uom_id.id,
                "price_unit": float(price),
                "date_start": line.next_period_date_start,
                "date_end": line.next_period_date_start,
                "recurring_next_date": line.recurring_next_date,
                "csp_check_reason": "\n".join(reasons) or False,
            }
        )

    def _csp_recorded_late(self, change_id):
        """How long after it took effect the change history recorded ``change_id``, when
        that is more than a day and its time is not Partner Center's audit record; else
        None."""
        row_id = subscription_history.change_row_id(change_id)
        row = self.env["csp.subscription.change"].sudo().browse(row_id or [])
        if not row.exists():
            return None
        audited = row.source == ledger.AUDIT_RECORD
        if not wording.is_late(row.changed_at, row.create_date, audited):
            return None
        return row.create_date - row.changed_at

    def _csp_create_adjustment(self, cost, one_shot, name, amount, currency, customer_only=False):
        """``cost``: the line giving the adjustment's key, period, days and cost (0 when
        ``customer_only``: the reconciliation leaves such adjustments out)."""
        row_id = subscription_history.change_row_id(cost.change_id)
        if row_id is None:  # the first days of a purchase: the history's opening row
            row_id = subscription_history.ledger_rows(self)[:1].id
        return self.env["csp.billing.adjustment"].create(
            {
                "key": cost.key,
                "subscription_id": self.id,
                "change_id": row_id or False,
                "unit_cost": self.cost_price,  # the prices this adjustment was computed with
                "unit_price": self.contract_line_id.price_unit,
                "contract_line_id": one_shot.id if one_shot else False,
                "name": name,
                "charge_type": cost.charge_type,
                "quantity": cost.quantity,
                "period_start": cost.period_start,
                "period_end": cost.period_end,
                "billing_days": cost.billing_days,
                "cycle_days": cost.cycle_days,
                "changed_at": cost.changed_at.replace(tzinfo=None),
                "time_source": str(cost.time_source),
                "rounding": str(cost.rounding),
                "currency_id": currency.id,
                "cost_amount": 0.0 if customer_only else float(cost.amount),
                "amount": amount,
                "customer_only": customer_only,
            }
        )

    def _csp_end_contract_line(self):
        """A cancelled or expired subscription's recurring line stops after what it
        already invoiced (never invoiced: cancelled). True when it changed."""
        self.ensure_one()
        line = self.contract_line_id
        if not line or line.is_canceled or (line.date_end and not line.recurring_next_date):
            return False
        self._csp_stop_line(line)
        self.message_post(
            body=self.env._(
                "Its line on the contract %(contract)s ended (%(line)s): the subscription "
                "is %(status)s.",
                contract=line.contract_id.display_name,
                line=(line.name or "").split("\n")[0],
                status=self.status,
            ),
            subtype_xmlid="mail.mt_note",
        )
        return True

    @api.model
    def _csp_stop_line(self, line):
        """``line`` invoices nothing more: it ends after the last period it invoiced
        (that day returned), or is cancelled when it invoiced nothing (None)."""
        if line.is_canceled or (line.date_end and not line.recurring_next_date):
            return line.last_date_invoiced or None
        if line.last_date_invoiced:
            line.write({"date_end": line.last_date_invoiced, "recurring_next_date": False})
            return line.last_date_invoiced
        line.write({"date_end": line.date_start, "is_canceled": True})
        return None
