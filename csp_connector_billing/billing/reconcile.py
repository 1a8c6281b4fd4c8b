# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Reconciliation of our cost lines with Partner Center's reconciliation line items.

Plain Python, no database: :func:`reconcile` takes the lines :mod:`.prorata` computed for a
customer's subscriptions and the line items Partner Center returned for the same customer
(``GET /v1/invoices/unbilled/lineitems``, provider ``onetime``, ``billinglineitems``), keeps
those of one month, pairs them and returns a :class:`Report` whose differences each say
what differs and its likely cause:

* *change seen late*: the same charge with other dates, where our line's time is when the
  sync saw the change (Partner Center's audit record was not known);
* *price changed*: the same charge and days at another unit price;
* *rounding rule*: the same charge, days and price, and Microsoft's amount is what another
  rounding rule gives;
* *missing in Odoo* / *not billed by Microsoft*: a line on one side only.

A line is identified by subscription, charge type, charge start and end, quantity and sign
(a credit of 10 seats and a charge of 10 seats are two lines).
"""

import dataclasses
import datetime as dt
from decimal import Decimal

from .prorata import RoundingRule, Settings, TimeSource, amounts

CENT = Decimal("0.01")


@dataclasses.dataclass(frozen=True)
class Charge:
    """One line of either side, reduced to what is compared."""

    subscription_id: str
    charge_type: str
    start: dt.date
    end: dt.date
    quantity: int
    unit_price: Decimal
    amount: Decimal  # signed
    at: dt.date  # the day of the change (Microsoft: orderDate's day)
    time_source: str = ""  # ours only: audit_record or seen
    billing_days: int = 0  # ours only
    cycle_days: int = 0  # ours only

    @property
    def sign(self):
        return -1 if self.amount < 0 else 1


@dataclasses.dataclass(frozen=True)
class Difference:
    subscription_id: str
    charge_type: str
    odoo: Charge | None
    microsoft: Charge | None
    cause: str

    @property
    def amount(self):
        """Microsoft's amount minus ours (what the partner pays that we did not record)."""
        theirs = self.microsoft.amount if self.microsoft else Decimal(0)
        ours = self.odoo.amount if self.odoo else Decimal(0)
        return theirs - ours


@dataclasses.dataclass(frozen=True)
class Report:
    customer_id: str
    month: dt.date  # first day of the month
    matched: int
    differences: tuple

    @property
    def total_difference(self):
        return sum((d.amount for d in self.differences), Decimal(0))


def _day(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()


def _decimal(value):
    return Decimal(str(value)).quantize(CENT)


def from_line(line):
    """A :class:`Charge` of one of our :class:`.prorata.Line`."""
    return Charge(
        subscription_id=line.subscription_id.lower(),
        charge_type=line.charge_type,
        start=line.period_start,
        end=line.period_end,
        quantity=line.quantity,
        unit_price=Decimal(line.unit_price),
        amount=line.amount,
        at=_day(line.changed_at),
        time_source=str(line.time_source),
        billing_days=line.billing_days,
        cycle_days=line.cycle_days,
    )


def from_item(item):
    """A :class:`Charge` of one of Partner Center's reconciliation line items; a missing
    field raises ``ValueError`` naming it."""
    try:
        return Charge(
            subscription_id=str(item["subscriptionId"]).lower(),
            charge_type=item["chargeType"],
            start=_day(item["chargeStartDate"]),
            end=_day(item["chargeEndDate"]),
            quantity=int(item["quantity"]),
            unit_price=_decimal(item["unitPrice"]),
            amount=_decimal(item["subtotal"]),
            at=_day(item.get("orderDate") or item["chargeStartDate"]),
        )
    except KeyError as exc:
        raise ValueError(
            f"A reconciliation line item has no {exc.args[0]!r}: Partner Center's answer "
            "changed or was cut; read the month again."
        ) from None


def _key(charge):
    return (charge.subscription_id, charge.charge_type, charge.start, charge.end,
            charge.quantity, charge.sign)  # fmt: skip


def _loose_key(charge):
    return (charge.subscription_id, charge.charge_type, charge.quantity, charge.sign)


def _rounding_cause(ours, theirs, rounding):
    if not (ours.billing_days and ours.cycle_days):
        return None
    for rule in RoundingRule:
        if rule == rounding:
            continue
        settings = Settings(rounding=rule)
        __, amount = amounts(ours.unit_price, ours.quantity, ours.billing_days,
                             ours.cycle_days, settings)  # fmt: skip
        if ours.sign * amount == theirs.amount:
            return (
                f"rounding rule: Microsoft's {theirs.amount} is what the '{rule}' rule gives; "
                f"this connection rounds with '{rounding}' ({ours.amount}). Change the "
                "connection's rounding rule to Microsoft's."
            )
    return None


def _cause(ours, theirs, rounding):
    if (ours.start, ours.end) != (theirs.start, theirs.end):
        if ours.time_source == TimeSource.SEEN:
            return (
                f"change seen late: Odoo dates the change {ours.at:%d %b %Y} (when the sync saw "
                f"it), Microsoft {theirs.at:%d %b %Y}; Partner Center's audit record of the "
                "change was not read (check the audit records permission)."
            )
        return (
            f"dates differ: Odoo bills {ours.start} to {ours.end}, Microsoft {theirs.start} to "
            f"{theirs.end}; check the subscription's start date and billing cycle."
        )
    if ours.unit_price != theirs.unit_price:
        return (
            f"price changed: Microsoft charged {theirs.unit_price} per seat, Odoo's cost is "
            f"{ours.unit_price}; update the subscription's cost."
        )
    return _rounding_cause(ours, theirs, rounding) or (
        f"amount differs ({ours.amount} in Odoo, {theirs.amount} at Microsoft) for the same "
        "days and price; no rounding rule explains it."
    )


def reconcile(customer_id, month, lines, items, rounding=RoundingRule.RECONCILIATION_FILE):
    """Compare our ``lines`` (:class:`.prorata.Line`) with Partner Center's ``items``
    (dicts) of ``customer_id`` for the month holding ``month``."""
    first = _day(month).replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    customer = customer_id.lower()
    ours = [from_line(line) for line in lines]
    theirs = [
        from_item(item) for item in items if str(item.get("customerId", "")).lower() == customer
    ]
    ours = [c for c in ours if first <= c.at < following]
    theirs = [c for c in theirs if first <= c.at < following]
    unmatched = list(theirs)
    left = []
    matched = 0
    for charge in ours:
        twin = next((c for c in unmatched if _key(c) == _key(charge)
                     and c.amount == charge.amount), None)  # fmt: skip
        if twin is None:
            left.append(charge)
        else:
            unmatched.remove(twin)
            matched += 1
    differences = []
    for charge in left:
        twin = next((c for c in unmatched if _key(c) == _key(charge)), None) or next(
            (c for c in unmatched if _loose_key(c) == _loose_key(charge)), None
        )
        if twin is None:
            differences.append(Difference(
                charge.subscription_id, charge.charge_type, charge, None,
                "not billed by Microsoft: no line item for this charge this month (a change "
                "Microsoft did not accept, or one billed in another month).",
            ))  # fmt: skip
            continue
        unmatched.remove(twin)
        differences.append(Difference(
            charge.subscription_id, charge.charge_type, charge, twin,
            _cause(charge, twin, RoundingRule(rounding)),
        ))  # fmt: skip
    for charge in unmatched:
        differences.append(Difference(
            charge.subscription_id, charge.charge_type, None, charge,
            "missing in Odoo: Microsoft billed a change the sync has not recorded (run the "
            "licences sync, or the change was made outside the history read).",
        ))  # fmt: skip
    return Report(customer, first, matched, tuple(differences))
