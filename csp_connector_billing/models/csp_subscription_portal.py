# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The price of a portal seat request, before it is sent: this period's pro-rata as the
billing step will bill it (the same history, rules and contract line as
_csp_sync_adjustments, with the request as one more seat change today) and the new
recurring amount."""

import datetime as dt
import logging
from decimal import Decimal

from odoo import models

from ..billing import lines as line_rules
from ..billing import prorata
from . import csp_billing_adjustment as adjustment_rules
from . import subscription_history
from .csp_subscription import CLIPPED

_logger = logging.getLogger(__name__)

QUOTE_ID = "portal-quote"  # the request's change id in the replayed history


class CspSubscription(models.Model):
    _inherit = "csp.subscription"

    def _csp_portal_quote(self, new_quantity):
        quote = super()._csp_portal_quote(new_quantity)
        if quote["allowed"]:
            # the prices live on the contract line, which a portal user may not read
            quote.update(self.sudo()._csp_portal_amounts(new_quantity))
        return quote

    def _csp_portal_amounts(self, new_quantity, at=None):
        """{prorata, recurring, currency, price_note} of going to ``new_quantity`` seats
        at ``at`` (default now): the customer's pro-rata lines of that change up to the
        day the recurring line bills the new quantity (prorata.customer_lines), summed,
        and the line's price times the new quantity."""
        self.ensure_one()
        line = self.contract_line_id
        if not line or not line.price_unit:
            return {
                "price_note": self.env._(
                    "Your IT service provider has not set a price for this subscription "
                    "yet: they will confirm the cost."
                )
            }
        contract = line.contract_id
        currency = contract.currency_id or contract.company_id.currency_id
        digits = currency.decimal_places
        price = adjustment_rules.to_decimal(line.price_unit, digits)
        values = {
            "currency": currency,
            "recurring": float(price * new_quantity),
            "price_note": "",
        }
        cycle = line_rules.cycle(self.billing_cycle)
        if cycle not in line_rules.PRORATED or not self.start_date or not line.recurring_next_date:
            values["prorata"] = 0.0
            return values
        at = at or dt.datetime.now(dt.UTC)
        since = line.csp_billed_since or line.create_date
        opening_quantity, term_start, changes = subscription_history.history_with_term(self, since)
        settings = prorata.Settings(digits, self.connection_id.billing_rounding)
        subscription = prorata.Subscription(
            self.microsoft_id, line.product_id.name or self.friendly_name, cycle, term_start
        )
        request = prorata.Change(
            QUOTE_ID, prorata.ChangeKind.QUANTITY, at, prorata.TimeSource.SEEN,
            quantity=new_quantity,
        )  # fmt: skip
        try:
            billed = prorata.bill_changes(
                subscription, [*changes, request], settings,
                prorata.Opening(opening_quantity, price, term_start),
            )  # fmt: skip
        except ValueError as exc:
            _logger.warning("CSP portal: no pro-rata quote for subscription %s: %s", self.id, exc)
            values["price_note"] = self.env._(
                "The cost of this change cannot be worked out now: your IT service provider "
                "will confirm it."
            )
            return values
        last_day = self._csp_last_day_at_old_quantity(line)
        total = Decimal(0)
        for charge in billed:
            if charge.change_id != QUOTE_ID:
                continue
            pieces = (
                prorata.customer_lines(charge, last_day, subscription)
                if charge.charge_type in CLIPPED
                else (charge,)
            )
            total += sum((piece.amount for piece in pieces), Decimal(0))
        values["prorata"] = float(total)
        return values
