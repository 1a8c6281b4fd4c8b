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
* *missing in Odoo* / *not billed by Microsoft*: a line on one side only;
* *unreadable*: a line item without a field the comparison needs (named).

A line is identified by subscription, charge type, charge start and end, quantity and sign
(a credit of 10 seats and a charge of 10 seats are two lines).

Our side is the pro-rata lines (:func:`from_line`, or :func:`charge` for the adjustments
Odoo stored) and the recurring cost of each charge cycle that opens in the month
(:func:`recurring_charges`: Microsoft's ``new``, ``renew`` or ``cycleCharge`` at the full
price). Partner Center's items are read by field name, case-insensitively, as its
documentation writes them (``subscriptionId``, ``customerId`` (sometimes ``org:``-prefixed),
``chargeType``, ``chargeStartDate``, ``chargeEndDate``, ``quantity``, ``unitPrice``,
``effectiveUnitPrice``, ``subtotal``, ``orderDate``); dates in any of Microsoft's shapes
(:func:`csp_connector.microsoft.dates.parse_datetime`), charge dates taken as the day
written; amounts given as numbers or text.
"""

import calendar
import dataclasses
import datetime as dt
import enum
from decimal import Decimal, InvalidOperation

from odoo.addons.csp_connector.microsoft.dates import parse_datetime

from .prorata import RoundingRule, Settings, TimeSource, amounts, charge_cycle

CENT = Decimal("0.01")
# Microsoft's charge types, as we write them (its files vary the case: "New", "new")
CHARGE_TYPES = {name.lower(): name for name in (
    "new", "renew", "cycleCharge", "addQuantity", "removeQuantity", "cancelImmediate",
)}  # fmt: skip
OPENING_TYPES = ("new", "renew", "cycleCharge")


class Cause(enum.StrEnum):
    """The likely cause of a difference."""

    SEEN_LATE = "seen_late"
    DATES = "dates"
    PRICE = "price"
    ROUNDING = "rounding"
    AMOUNT = "amount"
    ODOO_ONLY = "odoo_only"
    MICROSOFT_ONLY = "microsoft_only"
    UNREADABLE = "unreadable"


@dataclasses.dataclass(frozen=True)
class Charge:
    """One line of either side, reduced to what is compared."""

    subscription_id: str
    charge_type: str
    start: dt.date
    end: dt.date
    quantity: int
    unit_price: Decimal | None  # None: Partner Center did not say
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
    cause: str  # the explanation, in words
    kind: Cause = Cause.AMOUNT

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
    pairs: tuple = ()  # (ours, theirs) of the lines that agree

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


def charge_type(value):
    text = str(value or "").strip()
    return CHARGE_TYPES.get(text.lower(), text)


def customer_key(value):
    """Partner Center's customer id, lower case, without the ``org:`` prefix of some
    of its examples."""
    text = str(value or "").strip().lower()
    return text.removeprefix("org:")


def charge(subscription_id, charge_type_, start, end, quantity, unit_price, amount, at,
           time_source="", billing_days=0, cycle_days=0):  # fmt: skip
    """A :class:`Charge` of one of our cost lines given field by field (an adjustment
    Odoo stored, or a recurring charge)."""
    return Charge(
        subscription_id=str(subscription_id).lower(),
        charge_type=charge_type(charge_type_),
        start=_day(start),
        end=_day(end),
        quantity=int(quantity),
        unit_price=None if unit_price is None else Decimal(unit_price),
        amount=Decimal(amount),
        at=_day(at),
        time_source=str(time_source or ""),
        billing_days=billing_days,
        cycle_days=cycle_days,
    )


def from_line(line):
    """A :class:`Charge` of one of our :class:`.prorata.Line`."""
    return Charge(
        subscription_id=line.subscription_id.lower(),
        charge_type=charge_type(line.charge_type),
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


class UnreadableItem(ValueError):
    """A line item lacks a field the comparison needs, or has one that is not a value."""

    def __init__(self, item, field):
        self.item = item
        self.field = field
        super().__init__(
            f"Partner Center's line item of subscription {item.get('subscriptionid') or '?'} "
            f"({item.get('chargetype') or '?'}) has no usable {field!r}: it cannot be "
            "compared. Read the month again; if it repeats, compare this line by hand "
            "with Partner Center's reconciliation file."
        )


def _fields(item):
    return {str(key).lower(): value for key, value in (item or {}).items()}


def _written_day(fields, name, required=True):
    """The day a charge date names, as written (its own offset, not converted)."""
    moment = parse_datetime(fields.get(name.lower()))
    if moment is None:
        if required:
            raise UnreadableItem(fields, name)
        return None
    return moment.date()


def _number(fields, name, required=True):
    value = fields.get(name.lower())
    if value is None or value == "" or isinstance(value, bool):
        if required:
            raise UnreadableItem(fields, name)
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise UnreadableItem(fields, name) from None
    if not number.is_finite():
        raise UnreadableItem(fields, name)
    return number


def from_item(item):
    """A :class:`Charge` of one of Partner Center's reconciliation line items; raises
    :class:`UnreadableItem` naming a missing or unusable field."""
    fields = _fields(item)
    subscription = str(fields.get("subscriptionid") or "").strip().lower()
    if not subscription:
        raise UnreadableItem(fields, "subscriptionId")
    kind = charge_type(fields.get("chargetype"))
    if not kind:
        raise UnreadableItem(fields, "chargeType")
    start = _written_day(fields, "chargeStartDate")
    quantity = _number(fields, "quantity")
    if quantity != quantity.to_integral_value():
        raise UnreadableItem(fields, "quantity")  # licences come in whole seats
    unit_price = _number(fields, "unitPrice", required=False)
    ordered = parse_datetime(fields.get("orderdate"))
    return Charge(
        subscription_id=subscription,
        charge_type=kind,
        start=start,
        end=_written_day(fields, "chargeEndDate"),
        quantity=int(quantity),
        unit_price=None if unit_price is None else unit_price.quantize(CENT),
        amount=_number(fields, "subtotal").quantize(CENT),
        at=ordered.astimezone(dt.UTC).date() if ordered else start,
    )


def _key(line):
    return (line.subscription_id, line.charge_type.lower(), line.start, line.end,
            line.quantity, line.sign)  # fmt: skip


def _loose_key(line):
    return (line.subscription_id, line.charge_type.lower(), line.quantity, line.sign)


def _rounding_cause(ours, theirs, rounding):
    if not (ours.billing_days and ours.cycle_days) or ours.unit_price is None:
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
    """(:class:`Cause`, explanation) of a pair of lines that do not agree."""
    if (ours.start, ours.end) != (theirs.start, theirs.end):
        if ours.time_source == TimeSource.SEEN:
            return Cause.SEEN_LATE, (
                f"change seen late: Odoo dates the change {ours.at:%d %b %Y} (when the sync saw "
                f"it), Microsoft {theirs.at:%d %b %Y}; Partner Center's audit record of the "
                "change was not read (check the audit records permission)."
            )
        return Cause.DATES, (
            f"dates differ: Odoo bills {ours.start} to {ours.end}, Microsoft {theirs.start} to "
            f"{theirs.end}; check the subscription's start date and billing cycle."
        )
    if None not in (ours.unit_price, theirs.unit_price) and ours.unit_price != theirs.unit_price:
        return Cause.PRICE, (
            f"price changed: Microsoft charged {theirs.unit_price} per seat, Odoo's cost is "
            f"{ours.unit_price}; update the subscription's Microsoft cost (a change billed "
            "already keeps the cost it was computed with)."
        )
    rounding_text = _rounding_cause(ours, theirs, rounding)
    if rounding_text:
        return Cause.ROUNDING, rounding_text
    return Cause.AMOUNT, (
        f"amount differs ({ours.amount} in Odoo, {theirs.amount} at Microsoft) for the same "
        "days and price; no rounding rule explains it."
    )


def recurring_charges(subscription, month, *, term_months, unit_price, quantity_at,
                      purchased_at=None, ended_at=None, until=None,
                      currency_digits=2):  # fmt: skip
    """Our recurring cost of ``subscription`` (:class:`.prorata.Subscription`) in the
    month holding ``month``: one :class:`Charge` per charge cycle opening in it, at the
    full ``unit_price`` for the quantity ``quantity_at(moment)`` gives at the opening.

    Cycles open on the anchor day (the subscription's start; a missing day is the month's
    last), every month or every year as billed. The first opening is Microsoft's ``new``
    when ``purchased_at`` (the creation) is that day, otherwise ``renew`` (a later term);
    an opening ``term_months`` after it starts a term (``renew``), the others are
    ``cycleCharge``. Nothing opens at or after ``ended_at`` (a cancellation), nor after
    ``until`` (now: Microsoft has not billed a cycle that has not opened yet)."""
    first = _day(month).replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    anchor = subscription.cycle_anchor
    step = 12 if subscription.billing_cycle == "annual" else 1
    term_months = max(int(term_months or step), 1)
    price = Decimal(unit_price).quantize(Decimal(1).scaleb(-currency_digits))
    charges = []
    count = 0
    while True:
        opening = charge_cycle(anchor, subscription.billing_cycle,
                               _add_months(anchor, step * count))  # fmt: skip
        count += 1
        if opening.start >= following:
            return charges
        if opening.start < first:
            continue
        moment = dt.datetime.combine(opening.start, dt.time(0), dt.UTC)
        if count == 1:  # the anchor itself: the subscription's start
            moment = max(moment, _moment(purchased_at) or moment)
        if ended_at is not None and _moment(ended_at) <= moment:
            return charges
        if until is not None and moment > _moment(until):
            return charges
        quantity = quantity_at(moment)
        if not quantity:
            continue
        if count == 1:
            bought = _moment(purchased_at)
            kind = "new" if bought is None or bought.date() >= opening.start else "renew"
        else:
            kind = "renew" if (step * (count - 1)) % term_months == 0 else "cycleCharge"
        charges.append(charge(
            subscription.subscription_id, kind, opening.start, opening.end, quantity, price,
            price * quantity, opening.start, billing_days=1, cycle_days=1,
        ))  # fmt: skip


def _moment(value):
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.combine(_day(value), dt.time(0), dt.UTC)


def _add_months(day, months):
    """The anchor's day ``months`` later (the month's last day when it has no such day):
    a day on which a cycle opens."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _ours(line):
    return line if isinstance(line, Charge) else from_line(line)


def reconcile(customer_id, month, lines, items, rounding=RoundingRule.RECONCILIATION_FILE):
    """Compare our ``lines`` (:class:`Charge` or :class:`.prorata.Line`) with Partner
    Center's ``items`` (dicts, every customer's) of ``customer_id`` for the month holding
    ``month``. Unreadable items of the customer are differences of their own."""
    first = _day(month).replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    customer = customer_key(customer_id)
    ours = [c for c in map(_ours, lines) if first <= c.at < following]
    theirs, differences = [], []
    for item in items:
        fields = _fields(item)
        if customer_key(fields.get("customerid")) != customer:
            continue
        try:
            theirs.append(from_item(item))
        except UnreadableItem as exc:
            ordered = parse_datetime(fields.get("orderdate"))
            if ordered is None or first <= ordered.astimezone(dt.UTC).date() < following:
                differences.append(Difference(
                    str(fields.get("subscriptionid") or "").lower(),
                    charge_type(fields.get("chargetype")), None, None, str(exc),
                    Cause.UNREADABLE,
                ))  # fmt: skip
    theirs = [c for c in theirs if first <= c.at < following]
    unmatched = list(theirs)
    left, pairs = [], []
    for line in ours:
        twin = next((c for c in unmatched if _key(c) == _key(line)
                     and c.amount == line.amount), None)  # fmt: skip
        if twin is None:
            left.append(line)
        else:
            unmatched.remove(twin)
            pairs.append((line, twin))
    for line in left:
        twin = next((c for c in unmatched if _key(c) == _key(line)), None) or next(
            (c for c in unmatched if _loose_key(c) == _loose_key(line)), None
        )
        if twin is None:
            differences.append(Difference(
                line.subscription_id, line.charge_type, line, None,
                "not billed by Microsoft: no line item for this charge this month (a change "
                "Microsoft did not accept, or one billed in another month).",
                Cause.ODOO_ONLY,
            ))  # fmt: skip
            continue
        unmatched.remove(twin)
        kind, text = _cause(line, twin, RoundingRule(rounding))
        differences.append(Difference(line.subscription_id, line.charge_type, line, twin,
                                      text, kind))  # fmt: skip
    for line in unmatched:
        differences.append(Difference(
            line.subscription_id, line.charge_type, None, line,
            "missing in Odoo: Microsoft billed a change the sync has not recorded (run the "
            "licences sync, or the change was made outside the history read).",
            Cause.MICROSOFT_ONLY,
        ))  # fmt: skip
    return Report(customer, first, len(pairs), tuple(differences), tuple(pairs))
