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
* *not billed yet*: a line of ours in a month Microsoft has not invoiced yet (its
  billing calendar, :func:`is_billed`): expected on its invoice, not a difference;
* *unreadable*: a line item without a field the comparison needs (named).

Each line gets a state (:func:`line_state`: matches, expected, differs, not compared; a
0.00 difference never differs) and the report one that follows its lines
(:func:`report_state`). The words an accountant reads (charge types, causes, states) are
here too; Partner Center's codes stay in the data only.

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
# the words an accountant reads for each charge type (Partner Center's code kept aside)
CHARGE_WORDS = {
    "new": "New subscription",
    "renew": "Renewal",
    "cycleCharge": "Cycle charge",
    "addQuantity": "Seats added",
    "removeQuantity": "Seats removed",
    "cancelImmediate": "Cancelled",
    "firstDays": "First days (customer only)",
}
OTHER_CHARGE = "other"
OTHER_CHARGE_WORDS = "Other Microsoft charge"

# Microsoft's billing calendar for new-commerce licence-based purchases: the billing period
# is the calendar month, and Microsoft issues its invoice (with the reconciliation file)
# between the 6th and the 8th of the following month. Source: Microsoft Learn, "Billing
# overview for Partner Center CSP", New commerce billing ("the billing period is a full
# calendar month"; "documents are published by the 8th day of the following month"),
# https://learn.microsoft.com/en-us/partner-center/billing/billing-basics
# Until its 8th, a month may still be unbilled: it is billed from the 9th (UTC) on.
INVOICE_FIRST_DAY = 6
INVOICE_LAST_DAY = 8
NOT_BILLED_WORDS = (
    "Not billed yet \N{EM DASH} Microsoft invoices this month between the 6th and 8th of next month"
)


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
    NOT_BILLED_YET = "not_billed_yet"
    INCOMPLETE = "incomplete"  # an adjustment made by hand without its dates (the model's)
    # Microsoft's invoice against the customers' invoices (reconcile_billed)
    SEATS = "seats"
    NOT_INVOICED = "not_invoiced"
    BELOW_COST = "below_cost"
    OTHER_MONTH = "other_month"


CAUSE_WORDS = {
    Cause.SEEN_LATE: "Change seen late",
    Cause.DATES: "Dates differ",
    Cause.PRICE: "Price changed",
    Cause.ROUNDING: "Rounding rule",
    Cause.AMOUNT: "Amount differs",
    Cause.ODOO_ONLY: "Not billed by Microsoft",
    Cause.MICROSOFT_ONLY: "Missing in Odoo",
    Cause.UNREADABLE: "Unreadable line item",
    Cause.NOT_BILLED_YET: "Not billed yet",
    Cause.INCOMPLETE: "Adjustment without dates",
    Cause.SEATS: "Seats invoiced differ",
    Cause.NOT_INVOICED: "Not invoiced to the customer",
    Cause.BELOW_COST: "Sold below cost",
    Cause.OTHER_MONTH: "Billed yearly by Microsoft",
}


class LineState(enum.StrEnum):
    """What a reconciliation line says."""

    MATCHES = "matched"
    EXPECTED = "expected"  # Microsoft has not invoiced the month yet
    DIFFERS = "different"
    NOT_COMPARED = "not_compared"  # a side could not be read: amount unknown


LINE_STATE_WORDS = {
    LineState.MATCHES: "Matches",
    LineState.EXPECTED: "Expected",
    LineState.DIFFERS: "Differs",
    LineState.NOT_COMPARED: "Not compared",
}


class ReportState(enum.StrEnum):
    """What a customer's month says, from its lines."""

    QUEUED = "queued"
    NOT_BILLED = "not_billed"
    MATCHES = "matched"
    DIFFERENCES = "different"
    FAILED = "failed"


REPORT_STATE_WORDS = {
    ReportState.QUEUED: "Queued",
    ReportState.NOT_BILLED: "Not billed yet",
    ReportState.MATCHES: "Matches",
    ReportState.DIFFERENCES: "Differences",
    ReportState.FAILED: "Could not read",
}
ROUNDING_WORDS = {
    RoundingRule.RECONCILIATION_FILE: "unit price cut to cents",
    RoundingRule.TRUNCATE_LINE: "line amount cut to cents",
    RoundingRule.HALF_UP: "line amount rounded half up",
}


def first_of_month(day):
    return _day(day).replace(day=1)


def next_month(day):
    return (first_of_month(day) + dt.timedelta(days=32)).replace(day=1)


def invoice_days(month):
    """(first, last) day on which Microsoft issues the invoice of the month holding
    ``month``: the 6th and the 8th of the following month."""
    following = next_month(month)
    return following.replace(day=INVOICE_FIRST_DAY), following.replace(day=INVOICE_LAST_DAY)


def is_billed(month, today):
    """Whether Microsoft has invoiced the month holding ``month`` by ``today`` (a UTC
    day): from the day after its latest invoice day on. The current month never is; the
    previous one is from the 9th."""
    return _day(today) > invoice_days(month)[1]


def months_listed(today):
    """The months Partner Center lists unbilled line items for on ``today``: the current
    one and the previous (billed from the 9th, still listed as the previous period)."""
    current = first_of_month(today)
    return [current, first_of_month(current - dt.timedelta(days=1))]


def not_billed_note(month):
    """The sentence of a month Microsoft has not invoiced yet."""
    first, last = invoice_days(month)
    return (
        f"{NOT_BILLED_WORDS} ({first.day}\N{EN DASH}{last.day} {last:%B %Y}). Its charges "
        "Microsoft has not listed yet are expected, not differences; reconcile it again "
        f"after the {last.day}th to compare it with the invoice."
    )


def charge_words(code):
    """The accountant's words for one of Microsoft's charge types."""
    return CHARGE_WORDS.get(charge_type(code), OTHER_CHARGE_WORDS)


def charge_key(code):
    """The charge type as a choice of :data:`CHARGE_WORDS` (:data:`OTHER_CHARGE` for one
    Microsoft adds later)."""
    kind = charge_type(code)
    return kind if kind in CHARGE_WORDS else OTHER_CHARGE


def line_state(kind, amount, billed=True):
    """The state of a line: ``kind`` its :class:`Cause` (None: the two sides agree),
    ``amount`` Microsoft's charge minus ours, ``billed`` whether Microsoft has invoiced
    the month. A line Microsoft has not billed in a month it has not invoiced yet is
    expected; a 0.00 difference never differs (nothing to pay or to claim)."""
    if kind is None:
        return LineState.MATCHES
    if kind == Cause.UNREADABLE:
        return LineState.NOT_COMPARED  # its amount is not known
    if kind in (Cause.ODOO_ONLY, Cause.NOT_BILLED_YET) and not billed:
        return LineState.EXPECTED
    if Decimal(str(amount)).quantize(CENT) == 0:
        return LineState.MATCHES
    if kind == Cause.INCOMPLETE:
        return LineState.NOT_COMPARED
    return LineState.DIFFERS


def report_state(line_states, billed=True):
    """The state of a customer's month from its lines' states: differences as soon as
    one line differs or could not be compared, else not billed yet while Microsoft has
    not invoiced the month, else matches."""
    states = set(line_states)
    if states & {LineState.DIFFERS, LineState.NOT_COMPARED}:
        return ReportState.DIFFERENCES
    if not billed:
        return ReportState.NOT_BILLED
    return ReportState.MATCHES


def _when(day):
    return f"{day.day} {day:%b %Y}"


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
    cause: str  # the explanation, a sentence
    kind: Cause = Cause.AMOUNT
    state: LineState = LineState.DIFFERS
    value: Decimal | None = None  # the amount at stake, when not the sides' (billed)

    @property
    def amount(self):
        """Microsoft's amount minus ours (what the partner pays that we did not record);
        on Microsoft's invoice (:func:`reconcile_billed`) the amount at stake: what the
        customers' invoices miss (positive) or hold beyond Microsoft's (negative)."""
        if self.value is not None:
            return self.value
        theirs = self.microsoft.amount if self.microsoft else Decimal(0)
        ours = self.odoo.amount if self.odoo else Decimal(0)
        return theirs - ours


@dataclasses.dataclass(frozen=True)
class Report:
    customer_id: str
    month: dt.date  # first day of the month
    matched: int
    differences: tuple  # the lines that differ, or could not be compared
    pairs: tuple = ()  # (ours, theirs) of the lines that agree
    others: tuple = ()  # Differences that are none: expected, or at 0.00
    billed: bool = True  # Microsoft had invoiced the month

    @property
    def total_difference(self):
        return sum((d.amount for d in self.differences), Decimal(0))

    @property
    def state(self):
        states = [LineState.MATCHES] * self.matched
        return report_state(states + [d.state for d in self.differences + self.others],
                            self.billed)  # fmt: skip


def _day(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()


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
            f"({charge_words(item.get('chargetype')).lower()}) has no usable {field!r}, so "
            "it cannot be compared. Read the month again; if it repeats, compare this line "
            "by hand with Partner Center's reconciliation file."
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
                f"Microsoft's {theirs.amount} is what rounding with the {ROUNDING_WORDS[rule]} "
                f"gives; this connection rounds with the {ROUNDING_WORDS[rounding]} "
                f"({ours.amount}). Set the connection's pro-rata rounding to Microsoft's."
            )
    return None


def _cause(ours, theirs, rounding):
    """(:class:`Cause`, explanation) of a pair of lines that do not agree."""
    if (ours.start, ours.end) != (theirs.start, theirs.end):
        if ours.time_source == TimeSource.SEEN:
            return Cause.SEEN_LATE, (
                f"Odoo dates the change {_when(ours.at)}, when the sync saw it, and Microsoft "
                f"{_when(theirs.at)}: Partner Center's audit record of the change was not "
                "read. Check that the connection may read audit records."
            )
        return Cause.DATES, (
            f"Odoo bills {_when(ours.start)} to {_when(ours.end)} and Microsoft "
            f"{_when(theirs.start)} to {_when(theirs.end)}. Check the subscription's start "
            "date and billing cycle."
        )
    if None not in (ours.unit_price, theirs.unit_price) and ours.unit_price != theirs.unit_price:
        return Cause.PRICE, (
            f"Microsoft charged {theirs.unit_price} per seat and Odoo's cost is "
            f"{ours.unit_price}. Update the subscription's Microsoft cost (a change billed "
            "already keeps the cost it was computed with)."
        )
    rounding_text = _rounding_cause(ours, theirs, rounding)
    if rounding_text:
        return Cause.ROUNDING, rounding_text
    return Cause.AMOUNT, (
        f"Odoo's cost is {ours.amount} and Microsoft charged {theirs.amount} for the same "
        "days and price; no rounding rule explains it. Compare the line with Partner "
        "Center's reconciliation file."
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


def _one_side(line, first, billed):
    """The :class:`Difference` of one of our lines Partner Center does not list."""
    if not billed:
        __, last = invoice_days(first)
        return Difference(
            line.subscription_id, line.charge_type, line, None,
            f"Microsoft has not billed this charge yet: it invoices {first:%B %Y} between "
            f"{INVOICE_FIRST_DAY} and {last.day} {last:%B %Y}. Reconcile the month again after "
            "that to compare it with the invoice.",
            Cause.NOT_BILLED_YET, LineState.EXPECTED,
        )  # fmt: skip
    return Difference(
        line.subscription_id, line.charge_type, line, None,
        f"Microsoft has not billed this charge: Partner Center lists no line item for it in "
        f"{first:%B %Y}. Microsoft may have refused the change, or billed it in another "
        "month.",
        Cause.ODOO_ONLY,
    )  # fmt: skip


def _stated(difference, billed):
    return dataclasses.replace(
        difference, state=line_state(difference.kind, difference.amount, billed)
    )


def reconcile(customer_id, month, lines, items, rounding=RoundingRule.RECONCILIATION_FILE,
              billed=True):  # fmt: skip
    """Compare our ``lines`` (:class:`Charge` or :class:`.prorata.Line`) with Partner
    Center's ``items`` (dicts, every customer's) of ``customer_id`` for the month holding
    ``month``; ``billed``: whether Microsoft has invoiced the month (:func:`is_billed`).
    Unreadable items of the customer are differences of their own."""
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
            differences.append(_one_side(line, first, billed))
            continue
        unmatched.remove(twin)
        kind, text = _cause(line, twin, RoundingRule(rounding))
        differences.append(Difference(line.subscription_id, line.charge_type, line, twin,
                                      text, kind))  # fmt: skip
    for line in unmatched:
        differences.append(Difference(
            line.subscription_id, line.charge_type, None, line,
            "Microsoft billed a change Odoo has not recorded. Run the licences sync; if it "
            "stays, the change was made outside the history Odoo reads.",
            Cause.MICROSOFT_ONLY,
        ))  # fmt: skip
    stated = [_stated(d, billed) for d in differences]
    return Report(
        customer, first, len(pairs),
        tuple(d for d in stated if d.state in (LineState.DIFFERS, LineState.NOT_COMPARED)),
        tuple(pairs),
        tuple(d for d in stated if d.state not in (LineState.DIFFERS, LineState.NOT_COMPARED)),
        billed,
    )  # fmt: skip


# -- Microsoft's invoice against the customers' invoices ---------------------------------
#
# Once Microsoft has invoiced a month, its invoice's reconciliation line items say what
# each customer cost the partner; the customers' posted invoices of the same month say
# what the partner sold them. :func:`reconcile_billed` sets both side by side per
# customer and subscription (licences) or per customer (Azure consumption): Microsoft's
# cost, Odoo's sale, the margin, and each difference with its likely cause in the same
# :class:`Difference` and :class:`Cause` as the unbilled comparison above.

AZURE = "azure"  # the key of a customer's Azure consumption (one per customer and month)
AZURE_PLAN_PRODUCT = "DZH318Z0BCXX"  # Microsoft's product id of the Azure plan
AZURE_WORDS = "Azure consumption"
LICENCE, AZURE_KIND = "licence", "azure"
CHANGE_TYPES = ("addQuantity", "removeQuantity", "cancelImmediate")


@dataclasses.dataclass(frozen=True)
class Sale:
    """One line of a customer's posted invoice attributed to a Microsoft subscription
    (``key``: its id) or to the customer's Azure consumption (:data:`AZURE`) for a
    month. ``recurring``: the period's line of the subscription (its seats); otherwise a
    change's line (pro-rata, an Azure period...). ``amount`` signed (a credit note's is
    negative), untaxed."""

    key: str
    amount: Decimal
    quantity: Decimal = Decimal(0)
    recurring: bool = True
    unit_price: Decimal | None = None
    label: str = ""


def sale(key, amount, quantity=0, recurring=True, unit_price=None, label=""):
    """A :class:`Sale` given field by field (floats taken to the cent)."""
    return Sale(
        key=AZURE if key == AZURE else str(key).lower(),
        amount=Decimal(str(amount)).quantize(CENT),
        quantity=Decimal(str(quantity or 0)),
        recurring=bool(recurring),
        unit_price=None if unit_price is None else Decimal(str(unit_price)),
        label=str(label or ""),
    )


@dataclasses.dataclass(frozen=True)
class Row:
    """One subscription (or the customer's Azure consumption) of a billed month."""

    key: str
    kind: str  # LICENCE or AZURE_KIND
    label: str
    cost: Decimal  # Microsoft's
    sale: Decimal  # Odoo's
    microsoft_seats: int | None = None
    odoo_seats: int | None = None
    unit_price: Decimal | None = None  # Microsoft's, per seat
    differences: tuple = ()

    @property
    def margin(self):
        return self.sale - self.cost


@dataclasses.dataclass(frozen=True)
class BilledReport:
    customer_id: str
    month: dt.date
    invoice_ids: tuple
    rows: tuple

    @property
    def differences(self):
        return tuple(d for row in self.rows for d in row.differences
                     if d.state in (LineState.DIFFERS, LineState.NOT_COMPARED))  # fmt: skip

    @property
    def cost(self):
        return sum((row.cost for row in self.rows), Decimal(0))

    @property
    def sale(self):
        return sum((row.sale for row in self.rows), Decimal(0))

    @property
    def margin(self):
        return self.sale - self.cost

    @property
    def total_difference(self):
        return sum((d.amount for d in self.differences), Decimal(0))

    @property
    def state(self):
        return report_state([d.state for row in self.rows for d in row.differences]
                            or [LineState.MATCHES])  # fmt: skip


def is_azure(item):
    """Whether a reconciliation line item is Azure consumption (the Azure plan's product,
    or a line with a meter), not a licence."""
    fields = _fields(item)
    product = str(fields.get("productid") or "").strip().upper()
    return product == AZURE_PLAN_PRODUCT or bool(fields.get("meterid") or fields.get("metername"))


def _label(fields):
    return str(fields.get("productname") or fields.get("skuname") or
               fields.get("subscriptiondescription") or "").strip()  # fmt: skip


def _differ(key, kind, text, value, billed=True):
    value = Decimal(value).quantize(CENT)
    return Difference(key, "", None, None, text, kind, line_state(kind, value, billed), value)


@dataclasses.dataclass(frozen=True)
class _Seats:
    """Microsoft's seats of a subscription in a month against the customer's."""

    opened: int | None  # Microsoft's, at the period's opening charge
    before: int | None  # Microsoft's, before the month's first change (else opened)
    ended: int | None  # Microsoft's, after the month's changes
    invoiced: int | None  # the customer's period lines
    changes: tuple  # Microsoft's change charges
    openings: tuple  # Microsoft's opening charges
    change_lines: bool  # the customer's invoices hold a change's line
    price: Decimal  # the customer's seat price (else Microsoft's)


def _seats(charges, sales):
    openings = tuple(c for c in charges if c.charge_type in OPENING_TYPES and c.amount >= 0)
    changes = tuple(sorted((c for c in charges if c.charge_type in CHANGE_TYPES),
                           key=lambda c: (c.at, c.sign)))  # fmt: skip
    opened = openings[-1].quantity if openings else None
    credits = [c.quantity for c in changes if c.sign < 0]
    before = credits[0] if credits else opened
    ended = opened
    for change in changes:  # a credit of the old seats, then a charge of the new ones
        if change.charge_type == "cancelImmediate":
            ended = 0
        elif change.sign > 0:
            ended = change.quantity
    recurring = [s for s in sales if s.recurring]
    odoo_unit = next((s.unit_price for s in recurring if s.unit_price), None)
    unit = openings[-1].unit_price if openings else None
    return _Seats(
        opened, before, ended, int(sum(s.quantity for s in recurring)) if recurring else None,
        changes, openings, any(not s.recurring for s in sales),
        odoo_unit if odoo_unit is not None else (unit or Decimal(0)),
    )  # fmt: skip


def _seat_difference(key, name, seats):
    """The :class:`Difference` of a subscription both sides hold, on its seats; None."""
    expected = {seats.ended} if seats.ended is not None else set()
    if seats.changes and seats.change_lines:
        expected.add(seats.before)  # invoiced at the seats before, the change on its line
    if seats.opened is not None and seats.invoiced is None:
        return _differ(key, Cause.NOT_INVOICED, (
            f"Microsoft billed {seats.opened} seats of {name} for the period and the "
            "customer's invoices of the month hold no line for the period, only changes. "
            "Check the contract line's dates and invoice the period."
        ), sum((c.amount for c in seats.openings), Decimal(0)))  # fmt: skip
    if seats.invoiced is None or not expected or seats.invoiced in expected:
        return None
    if seats.changes and seats.invoiced == seats.before:
        return _differ(key, Cause.NOT_INVOICED, (
            f"Microsoft billed a seat change of {name} this month ({seats.before} to "
            f"{seats.ended} seats) and the customer was invoiced {seats.invoiced} seats with "
            "no line for the change. Run the billing step so the change's pro-rata line is "
            "invoiced."
        ), sum((c.amount for c in seats.changes), Decimal(0)))  # fmt: skip
    return _differ(key, Cause.SEATS, (
        f"Microsoft billed {seats.ended} seats of {name} and the customer was invoiced "
        f"{seats.invoiced}. Correct the contract line's quantity (the billing step keeps it "
        "at Partner Center's) and invoice the difference."
    ), ((seats.ended or 0) - seats.invoiced) * seats.price)  # fmt: skip


def _one_side_difference(key, name, cost, sold, charges, yearly):
    """The :class:`Difference` of a subscription only one side holds; None."""
    if charges:
        if not cost:
            return None
        return _differ(key, Cause.NOT_INVOICED, (
            f"Microsoft billed {cost} for {name} this month and no posted invoice of the "
            "customer holds it. Put the subscription on the customer's contract (or "
            "invoice it), then reconcile again."
        ), cost)  # fmt: skip
    if yearly:
        return _differ(key, Cause.OTHER_MONTH, (
            f"Microsoft bills {name} once a year, on its anniversary, and not this month: the "
            f"customer's {sold} this month is set against the cost of another month."
        ), 0)  # fmt: skip
    if not sold:
        return None
    return _differ(key, Cause.ODOO_ONLY, (
        f"The customer was invoiced {sold} for {name} and Microsoft's invoice has no "
        "charge for it this month: check that the subscription is still active in "
        "Partner Center, or whether Microsoft billed it in another month."
    ), -sold)  # fmt: skip


def _licence_row(key, charges, label, sales, yearly=False):
    """The :class:`Row` of one subscription: Microsoft's ``charges`` (:class:`Charge`,
    maybe none) against the customer's ``sales`` of it (maybe none); ``yearly``: Microsoft
    bills it once a year (a month's sale and Microsoft's charge need not meet)."""
    cost = sum((c.amount for c in charges), Decimal(0))
    sold = sum((s.amount for s in sales), Decimal(0))
    seats = _seats(charges, sales)
    unit = seats.openings[-1].unit_price if seats.openings else None
    name = label or next((s.label for s in sales if s.label), "") or key
    if not (charges and sales):
        difference = _one_side_difference(key, name, cost, sold, charges, yearly)
    else:
        difference = _seat_difference(key, name, seats)
        if difference is None and sold < cost and not yearly:
            difference = _differ(key, Cause.BELOW_COST, (
                f"The customer was invoiced {sold} for {name} and Microsoft billed {cost}: "
                "sold below cost. Check the contract line's unit price against the "
                "subscription's Microsoft cost."
            ), cost - sold)  # fmt: skip
    differences = (difference,) if difference else ()
    return Row(key, LICENCE, name, cost, sold, seats.ended, seats.invoiced, unit, differences)


def _azure_row(items, sales):
    cost = sum((_number(_fields(i), "subtotal").quantize(CENT) for i in items), Decimal(0))
    sold = sum((s.amount for s in sales), Decimal(0))
    differences = []
    if cost and not sales:
        differences.append(_differ(AZURE, Cause.NOT_INVOICED, (
            f"Microsoft billed {cost} of Azure consumption this month and no posted invoice "
            "of the customer holds Azure consumption of the month. Import and invoice the "
            "month's Azure consumption."
        ), cost))  # fmt: skip
    elif sold and not items:
        differences.append(_differ(AZURE, Cause.ODOO_ONLY, (
            f"The customer was invoiced {sold} of Azure consumption and Microsoft's invoice "
            "has no Azure charge for it this month."
        ), -sold))  # fmt: skip
    elif sold < cost:
        differences.append(_differ(AZURE, Cause.BELOW_COST, (
            f"The customer was invoiced {sold} of Azure consumption and Microsoft billed "
            f"{cost}: sold below cost. Check the markup of the customer's Azure rules."
        ), cost - sold))  # fmt: skip
    return Row(AZURE, AZURE_KIND, AZURE_WORDS, cost, sold, differences=tuple(differences))


def reconcile_billed(customer_id, month, items, sales, invoice_ids=(), yearly=()):
    """Compare Microsoft's invoice of the month holding ``month`` (its reconciliation line
    ``items``, licences and Azure, every customer's: those of ``customer_id`` are kept)
    with ``sales`` (:class:`Sale`, the customer's posted invoice lines of the month
    attributed to a subscription or to Azure). Returns a :class:`BilledReport`: a
    :class:`Row` per subscription either side names, and one for Azure when either side
    has some. ``yearly``: the ids of subscriptions Microsoft bills once a year. Only
    call it with items read whole: a side read in part would show charges as not
    invoiced."""
    yearly = {str(key).lower() for key in yearly}
    customer = customer_key(customer_id)
    charges, labels, azure, unreadable = {}, {}, [], []
    for item in items:
        fields = _fields(item)
        if customer_key(fields.get("customerid")) != customer:
            continue
        try:
            if is_azure(item):
                _number(fields, "subtotal")
                azure.append(item)
                continue
            line = from_item(item)
        except UnreadableItem as exc:
            unreadable.append(Difference(
                str(fields.get("subscriptionid") or "").lower(),
                charge_type(fields.get("chargetype")), None, None, str(exc), Cause.UNREADABLE,
                LineState.NOT_COMPARED, Decimal(0),
            ))  # fmt: skip
            continue
        charges.setdefault(line.subscription_id, []).append(line)
        labels.setdefault(line.subscription_id, _label(fields))
    by_key = {}
    for entry in sales:
        by_key.setdefault(entry.key, []).append(entry)
    keys = sorted((set(charges) | set(by_key)) - {AZURE})
    rows = [_licence_row(k, charges.get(k, []), labels.get(k, ""), by_key.get(k, []),
                         k in yearly) for k in keys]  # fmt: skip
    if azure or by_key.get(AZURE):
        rows.append(_azure_row(azure, by_key.get(AZURE, [])))
    if unreadable:
        rows.append(Row("", LICENCE, "", Decimal(0), Decimal(0), differences=tuple(unreadable)))
    return BilledReport(customer, first_of_month(month), tuple(invoice_ids), tuple(rows))


def items_by_customer(items):
    """{customer id (:func:`customer_key`): its items} of every customer's ``items``, so
    each customer's comparison reads its own only."""
    grouped = {}
    for item in items:
        grouped.setdefault(customer_key(_fields(item).get("customerid")), []).append(item)
    return grouped


def invoice_month(invoice):
    """The month (first day) Microsoft's invoice (``GET /v1/invoices`` item) bills: its
    billing period's start, else its invoice date's previous month; None when neither
    is readable."""
    fields = _fields(invoice)
    start = parse_datetime(fields.get("billingperiodstartdate"))
    if start is not None:
        return start.astimezone(dt.UTC).date().replace(day=1)
    issued = parse_datetime(fields.get("invoicedate"))
    if issued is None:
        return None
    return first_of_month(first_of_month(issued.astimezone(dt.UTC).date()) - dt.timedelta(days=1))


def month_invoices(invoices, month, currency=None):
    """The ids of Microsoft's invoices billing the month holding ``month`` (in
    ``currency`` when given): its recurring and one-time (new commerce, "G...") ones."""
    first = first_of_month(month)
    found = []
    for invoice in invoices:
        fields = _fields(invoice)
        if invoice_month(invoice) != first or not fields.get("id"):
            continue
        code = str(fields.get("currencycode") or "").upper()
        if currency and code and code != currency.upper():
            continue
        found.append(str(fields["id"]))
    return found
