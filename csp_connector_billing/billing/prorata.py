# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Microsoft's new-commerce pro-rata, as plain arithmetic: changes in, lines out.

What this module relies on (Microsoft Partner Center documentation, in our words):

* Charge cycles. A licence-based subscription is charged per *charge cycle*, which runs
  from the subscription's start day of month: a subscription bought on 18 June has cycles
  18 June - 17 July, 18 July - 17 August, ... An annual cycle runs from the start date to
  the day before its anniversary. When the start day does not exist in a month (a start on
  the 29th, 30th or 31st), that month's cycle starts on the month's last day: a start on
  31 January gives cycles 31 Jan - 27 Feb, 28 Feb - 30 Mar, 31 Mar - 29 Apr (Microsoft's
  month-end tables for monthly terms and for annual terms bought on the last day of a month
  show exactly this). One of Microsoft's tables, annual terms bought the day *before* the
  last day, instead keeps the distance to the month's end (30 Jan -> 27 Feb); its sibling
  table for monthly terms contradicts it, so we keep the clamp rule everywhere.
* Effective unit price = unit price / charge-cycle days x billing days.
  *Billing days* run from the day of the change to the last day of the charge cycle, both
  counted (a change on 20 June in a cycle ending 17 July: 28 days). *Charge-cycle days*
  are the number of days of the calendar month in which that charge cycle started (a cycle
  starting 18 June: 30; starting 28 February 2027: 28), whatever the cycle's own length.
  For an annual cycle they are the days of the cycle's year span: 366 when that span holds
  a 29 February, else 365 (Microsoft: "365, or 366 in a leap year"); a cycle starting on
  29 February 2024 ends on 27 February 2025 (the next starts on the 28th) and counts 366.
* Opening charges (a purchase on a cycle's first day, a renewal) are billed at the full
  unit price: no pro-rata. A purchase on another day (a subscription aligned with another
  subscription's cycle, or with the calendar month) is pro-rated from its first day.
  :func:`first_period_charge` uses the same rule for the customer's side of a purchase:
  the days from the purchase to the end of the invoicing period before the subscription's
  recurring line starts, that period taken as the charge cycle.
* A seat change is two lines over the same remaining days: a credit of the old quantity
  and a charge of the new quantity (Microsoft's ``addQuantity``/``removeQuantity``).
  Several changes in one cycle are simply several such pairs, each from its own day.
* Cancellation: within 24 hours of the purchase or renewal everything billed for the term
  so far is refunded; within 7 days (168 hours) the unused days are refunded, pro-rated
  like a seat change (from the cancellation day to the cycle's end); after that nothing.
  A term older than the history (:class:`Opening`) refunds its opening charge, or the
  lines said to have been billed for it.
  We count the windows inclusively (exactly 24 h is still a full refund).
* The customer's side of a seat change or a cancellation (:func:`customer_lines`): the
  customer's recurring line follows the quantity from the first period it has not
  invoiced yet, so the customer's pro-rata covers every day from the change to the day
  before that period starts, split at Microsoft's charge-cycle boundaries: the piece in
  the change's cycle over that cycle's days (:func:`clip` when it ends inside it), each
  later piece over its own cycle's charge-cycle days (Microsoft bills those cycles at the
  new quantity itself). A change on or after that day gives the customer nothing to
  adjust.
* All of Microsoft's billing dates are UTC days. A date given without a time counts as
  00:00 UTC; a naive datetime is taken as UTC.

Rounding. Microsoft's documents round in different places, so the rule is a setting
(:class:`RoundingRule`); each line says which rule made it. The reconciliation file's
field list gives, for licence-based lines, subtotal = ROUNDDOWN(effective unit price x
exchange rate, 2) x billable quantity: the effective unit price is cut (towards zero) to
the currency's cents before multiplying (Microsoft's cancellation example, 10.08 / 31 x 29
x 10 seats = 94.20, follows it). Their worked seat-change tables instead cut the line amount
itself (10.08 / 30 x 28 x 12 = 112.89), and their tables print the effective unit price
rounded half up. Microsoft writes "2" decimals because its currencies have cents; we round
to the currency's own precision (``currency_digits``), 2 by default. No exchange rate is
applied here: amounts are in the price's currency.

Only the arithmetic lives here; contract lines, the exactly-once invoicing and the
reconciliation report use these lines later. Arithmetic is exact: amounts are computed as
integer fractions and rounded once, never through binary floats.
"""

import calendar
import dataclasses
import datetime as dt
import enum
from decimal import Decimal

FULL_REFUND_WINDOW = dt.timedelta(hours=24)
# charge type of first_period_charge's line: the customer's days before their recurring
# line; not one of Microsoft's charges (Microsoft bills the purchase on its own cycle)
FIRST_DAYS = "firstDays"
PRORATED_REFUND_WINDOW = dt.timedelta(hours=168)

_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # fmt: skip
_DASH = "\N{EN DASH}"  # between the dates of a period, as on an invoice
_UNIT_PRICE_DIGITS = 6  # precision of the informative effective unit price (line rules)


class BillingCycle(enum.StrEnum):
    """How often the subscription is charged (Partner Center's ``billingCycle``)."""

    MONTHLY = "monthly"
    ANNUAL = "annual"


class RoundingRule(enum.StrEnum):
    """Where the pro-rated amount is rounded to the currency's precision.

    ``RECONCILIATION_FILE`` (default): the effective unit price is rounded *down* (towards
    zero) to the currency's precision, then multiplied by the quantity; Microsoft's
    reconciliation-file formula for licence-based lines.
    ``TRUNCATE_LINE``: unit price x quantity x billing days / cycle days, exactly, then the
    line amount is cut (towards zero) to the currency's precision; Microsoft's worked
    seat-change tables.
    ``HALF_UP``: the same exact line amount rounded half up (half a cent goes up); the
    usual accounting rounding.
    """

    RECONCILIATION_FILE = "reconciliation_file"
    TRUNCATE_LINE = "truncate_line"
    HALF_UP = "half_up"


class LineKind(enum.StrEnum):
    """A charge (positive), a credit of an old quantity (negative) or a refund."""

    CHARGE = "charge"
    CREDIT = "credit"
    REFUND = "refund"


class TimeSource(enum.StrEnum):
    """Where a change's time comes from; carried on every line it produces."""

    AUDIT_RECORD = "audit_record"  # Partner Center's audit record of the change
    SEEN = "seen"  # when our sync first saw the change (audit record not known)
    SUBSCRIPTION = "subscription"  # the subscription's own start (a purchase, a renewal)


class ChangeKind(enum.StrEnum):
    PURCHASE = "purchase"
    QUANTITY = "quantity"
    CANCEL = "cancel"
    RENEWAL = "renewal"


@dataclasses.dataclass(frozen=True)
class ChargeCycle:
    """One charge cycle: ``start`` and ``end`` both belong to it."""

    start: dt.date
    end: dt.date
    cycle_days: int  # the divisor of the pro-rata (see the module's docstring)

    @property
    def length(self):
        return (self.end - self.start).days + 1


@dataclasses.dataclass(frozen=True)
class Settings:
    """A connection's billing arithmetic: currency precision and rounding rule."""

    currency_digits: int = 2
    rounding: RoundingRule = RoundingRule.RECONCILIATION_FILE

    def __post_init__(self):
        if isinstance(self.currency_digits, bool) or not isinstance(self.currency_digits, int):
            raise TypeError("currency_digits must be a whole number of decimals, e.g. 2.")
        if not 0 <= self.currency_digits <= 6:
            raise ValueError(
                f"currency_digits {self.currency_digits} is out of range: currencies have "
                "0 to 6 decimals (2 for EUR or USD); check the currency's rounding."
            )
        object.__setattr__(self, "rounding", RoundingRule(self.rounding))


@dataclasses.dataclass(frozen=True)
class Subscription:
    """What the arithmetic needs to know of a subscription.

    ``cycle_anchor`` is the date its charge cycles run from: its start date, or the date of
    the subscription or calendar month it was aligned with.
    """

    subscription_id: str
    product_name: str
    billing_cycle: BillingCycle
    cycle_anchor: dt.date

    def __post_init__(self):
        object.__setattr__(self, "billing_cycle", BillingCycle(self.billing_cycle))
        if isinstance(self.cycle_anchor, dt.datetime):
            object.__setattr__(self, "cycle_anchor", _utc(self.cycle_anchor).date())


@dataclasses.dataclass(frozen=True)
class Change:
    """One entry of a subscription's history.

    ``change_id`` identifies the change in that history (it must not depend on the time,
    so a change first seen by the sync and later dated by its audit record keeps its line
    keys). ``quantity`` is the quantity *after* the change (purchase, quantity change,
    renewal); ``unit_price`` is required for a purchase, optional for a renewal (a new
    term's price) and ignored otherwise: a term keeps its price.
    """

    change_id: str
    kind: ChangeKind
    at: dt.date | dt.datetime
    time_source: TimeSource
    quantity: int | None = None
    unit_price: Decimal | None = None


@dataclasses.dataclass(frozen=True)
class Opening:
    """State of a subscription whose purchase or last renewal is older than the history
    given: its quantity, its unit price and when its current term started.

    ``billed``: the lines already billed for that term, which a cancellation within 24
    hours reverses; None (default): the term's opening charge, one full charge cycle of
    ``quantity`` seats from the term's start, as Microsoft bills it.
    """

    quantity: int
    unit_price: Decimal
    term_start: dt.date | dt.datetime
    billed: tuple | None = None


@dataclasses.dataclass(frozen=True)
class Line:
    """One billing line. ``amount`` is signed (credits and refunds are negative);
    ``quantity`` is the number of seats the line is for. ``key`` is stable: the same
    change of the same subscription always gives the same keys."""

    key: str
    subscription_id: str
    change_id: str
    kind: LineKind
    charge_type: str  # Microsoft's ChargeType for the same event
    product_name: str
    quantity: int
    unit_price: Decimal
    effective_unit_price: Decimal
    amount: Decimal
    period_start: dt.date
    period_end: dt.date
    billing_days: int
    cycle_days: int
    prorated: bool
    changed_at: dt.datetime
    time_source: TimeSource
    rounding: RoundingRule
    currency_digits: int
    description: str


# --- charge cycles ---------------------------------------------------------------------


def _days_in_month(year, month):
    return calendar.monthrange(year, month)[1]


def _monthly_start(anchor_day, year, month):
    return dt.date(year, month, min(anchor_day, _days_in_month(year, month)))


def _annual_start(anchor, year):
    return dt.date(year, anchor.month, min(anchor.day, _days_in_month(year, anchor.month)))


def _year_days(start, end):
    """The charge-cycle days of the annual cycle ``start`` - ``end``: 366 when it holds a
    29 February, else 365. A cycle anchored on 29 February is a day short in the years
    after (29 Feb 2024 - 27 Feb 2025: 365 days long, the next starting on 28 February)
    and still counts 366 days in the year that has it; one reaching a 29 February
    anchor again (28 Feb 2027 - 28 Feb 2028) is 366 days long and counts them all, so a
    whole cycle is never more than its price."""
    leap_day = any(
        calendar.isleap(year) and start <= dt.date(year, 2, 29) <= end
        for year in range(start.year, end.year + 1)
    )
    return max((end - start).days + 1, 366 if leap_day else 365)


def charge_cycle(anchor, billing_cycle, day):
    """The charge cycle of a subscription anchored on ``anchor`` that contains ``day``."""
    billing_cycle = BillingCycle(billing_cycle)
    if billing_cycle is BillingCycle.ANNUAL:
        start = _annual_start(anchor, day.year)
        if day < start:
            start = _annual_start(anchor, day.year - 1)
        end = _annual_start(anchor, start.year + 1) - dt.timedelta(days=1)
        return ChargeCycle(start, end, _year_days(start, end))
    start = _monthly_start(anchor.day, day.year, day.month)
    if day < start:
        year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
        start = _monthly_start(anchor.day, year, month)
    year, month = (start.year, start.month + 1) if start.month < 12 else (start.year + 1, 1)
    end = _monthly_start(anchor.day, year, month) - dt.timedelta(days=1)
    return ChargeCycle(start, end, _days_in_month(start.year, start.month))


# --- money -------------------------------------------------------------------------------


def _price(value, what):
    if isinstance(value, float | bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(
            f"{what} must be a Decimal or a text such as '10.08', not {type(value).__name__}: "
            "binary floats cannot hold cents exactly."
        )
    price = Decimal(value)
    if not price.is_finite() or price < 0:
        raise ValueError(f"{what} {value!r} is not a price: it must be a number, 0 or more.")
    return price


def _quantity(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} {value!r} is not a number of seats (a whole number, 0 or more).")
    return value


def _units(numerator, denominator, half_up):
    """numerator / denominator (both >= 0) rounded to an integer: down or half up."""
    if half_up:
        return (2 * numerator + denominator) // (2 * denominator)
    return numerator // denominator


def amounts(unit_price, quantity, billing_days, cycle_days, settings):
    """(effective unit price, unsigned line amount) of ``quantity`` seats for
    ``billing_days`` out of ``cycle_days``, rounded as ``settings`` says."""
    num, den = _price(unit_price, "unit price").as_integer_ratio()
    digits = settings.currency_digits
    scale = 10**digits
    if settings.rounding is RoundingRule.RECONCILIATION_FILE:
        eup = Decimal(_units(num * billing_days * scale, den * cycle_days, False)).scaleb(-digits)
        return eup, (eup * quantity).quantize(Decimal(1).scaleb(-digits))
    half_up = settings.rounding is RoundingRule.HALF_UP
    amount = _units(num * billing_days * quantity * scale, den * cycle_days, half_up)
    eup_scale = 10**_UNIT_PRICE_DIGITS
    eup = _units(num * billing_days * eup_scale, den * cycle_days, True)
    return Decimal(eup).scaleb(-_UNIT_PRICE_DIGITS), Decimal(amount).scaleb(-digits)


# --- descriptions --------------------------------------------------------------------------


def _period(start, end):
    if start.year == end.year:
        return (
            f"{start.day} {_MONTHS[start.month]} {_DASH} {end.day} {_MONTHS[end.month]} {end.year}"
        )
    return (
        f"{start.day} {_MONTHS[start.month]} {start.year} {_DASH} "
        f"{end.day} {_MONTHS[end.month]} {end.year}"
    )


def _seats(count, signed=False):
    text = f"{count:+d}" if signed else str(count)
    return f"{text} seat" if abs(count) == 1 else f"{text} seats"


# --- the replay ------------------------------------------------------------------------


def _utc(value):
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0), dt.UTC)
    raise TypeError(f"{value!r} is not a date or a datetime.")


@dataclasses.dataclass
class _State:
    quantity: int | None = None
    unit_price: Decimal | None = None
    term_start: dt.datetime | None = None
    term_lines: list = dataclasses.field(default_factory=list)
    opening_charge: bool = False  # the term's charge precedes the history (Opening)
    opening_quantity: int | None = None
    cancelled: bool = False


class _Biller:
    def __init__(self, subscription, settings):
        self.sub = subscription
        self.settings = settings

    def line(self, change, at, *, role, kind, charge_type, quantity, unit_price, start, end,
             cycle, prorated, description, sign):  # fmt: skip
        billing_days = (end - start).days + 1
        if prorated:
            eup, amount = amounts(unit_price, quantity, billing_days, cycle.cycle_days,
                                  self.settings)  # fmt: skip
        else:
            eup, amount = amounts(unit_price, quantity, 1, 1, self.settings)
        return Line(
            key=f"{self.sub.subscription_id}:{change.change_id}:{role}",
            subscription_id=self.sub.subscription_id,
            change_id=change.change_id,
            kind=kind,
            charge_type=charge_type,
            product_name=self.sub.product_name,
            quantity=quantity,
            unit_price=unit_price,
            effective_unit_price=sign * eup,
            amount=sign * amount,
            period_start=start,
            period_end=end,
            billing_days=billing_days,
            cycle_days=cycle.cycle_days,
            prorated=prorated,
            changed_at=at,
            time_source=TimeSource(change.time_source),
            rounding=self.settings.rounding,
            currency_digits=self.settings.currency_digits,
            description=description,
        )

    def cycle(self, day):
        return charge_cycle(self.sub.cycle_anchor, self.sub.billing_cycle, day)

    def days(self, day, cycle, prorated=True):
        tail = f" ({(cycle.end - day).days + 1}/{cycle.cycle_days} days)" if prorated else ""
        return f"{_period(day, cycle.end)}{tail}"

    def purchase(self, state, change, at):
        if state.quantity is not None:
            raise ValueError(
                f"Change {change.change_id} is a purchase of a subscription already bought: "
                "a subscription's history holds one purchase; check the history's import."
            )
        quantity = _quantity(change.quantity, "Purchased quantity")
        price = _price(change.unit_price, f"Unit price of purchase {change.change_id}")
        day = at.date()
        cycle = self.cycle(day)
        prorated = day != cycle.start
        name = self.sub.product_name
        line = self.line(
            change, at, role="charge", kind=LineKind.CHARGE, charge_type="new",
            quantity=quantity, unit_price=price, start=day, end=cycle.end, cycle=cycle,
            prorated=prorated, sign=1,
            description=f"{name}: {_seats(quantity)}, {self.days(day, cycle, prorated)}",
        )  # fmt: skip
        state.quantity, state.unit_price, state.term_start = quantity, price, at
        state.term_lines, state.opening_charge = [line], False
        return [line]

    def renewal(self, state, change, at):
        quantity = state.quantity if change.quantity is None else change.quantity
        quantity = _quantity(quantity, "Renewed quantity")
        price = state.unit_price if change.unit_price is None else change.unit_price
        price = _price(price, f"Unit price of renewal {change.change_id}")
        day = at.date()
        cycle = self.cycle(day)
        line = self.line(
            change, at, role="charge", kind=LineKind.CHARGE, charge_type="renew",
            quantity=quantity, unit_price=price, start=day, end=cycle.end, cycle=cycle,
            prorated=False, sign=1,
            description=f"{self.sub.product_name}: renewal, {_seats(quantity)}, "
            f"{_period(day, cycle.end)}",
        )  # fmt: skip
        state.quantity, state.unit_price, state.term_start = quantity, price, at
        state.term_lines, state.opening_charge = [line], False
        return [line]

    def quantity(self, state, change, at):
        new = _quantity(change.quantity, f"New quantity of change {change.change_id}")
        old = state.quantity
        if new == old:
            return []
        day = at.date()
        cycle = self.cycle(day)
        head = f"{self.sub.product_name}: {_seats(new - old, signed=True)}, {self.days(day, cycle)}"
        charge_type = "addQuantity" if new > old else "removeQuantity"
        common = {
            "charge_type": charge_type, "unit_price": state.unit_price, "start": day,
            "end": cycle.end, "cycle": cycle, "prorated": True,
        }  # fmt: skip
        lines = []
        if old:
            lines.append(self.line(
                change, at, role="credit", kind=LineKind.CREDIT, quantity=old, sign=-1,
                description=f"{head} {_DASH} credit for the previous {_seats(old)}", **common,
            ))  # fmt: skip
        if new:
            lines.append(self.line(
                change, at, role="charge", kind=LineKind.CHARGE, quantity=new, sign=1,
                description=f"{head} {_DASH} charge for the new {_seats(new)}", **common,
            ))  # fmt: skip
        state.quantity = new
        state.term_lines.extend(lines)
        return lines

    def cancel(self, state, change, at):
        elapsed = at - state.term_start
        state.cancelled = True
        name = self.sub.product_name
        if elapsed < dt.timedelta(0):
            raise ValueError(
                f"Cancellation {change.change_id} is dated before the term it cancels began "
                f"({state.term_start:%Y-%m-%d %H:%M} UTC); check the change history's times."
            )
        if elapsed <= FULL_REFUND_WINDOW:
            refunds = []
            if state.opening_charge:  # the term started before the history we were given
                cycle = self.cycle(state.term_start.date())
                refunds.append(self.line(
                    change, at, role="refund", kind=LineKind.REFUND,
                    charge_type="cancelImmediate", quantity=state.opening_quantity,
                    unit_price=state.unit_price, start=cycle.start, end=cycle.end,
                    cycle=cycle, prorated=False, sign=-1,
                    description=f"{name}: cancelled within 24 hours, full refund of "
                    f"{_seats(state.opening_quantity)}, {_period(cycle.start, cycle.end)}",
                ))  # fmt: skip
            return refunds + [self.reverse(change, at, line) for line in state.term_lines]
        if elapsed <= PRORATED_REFUND_WINDOW:
            day = at.date()
            cycle = self.cycle(day)
            return [self.line(
                change, at, role="refund", kind=LineKind.REFUND, charge_type="cancelImmediate",
                quantity=state.quantity, unit_price=state.unit_price, start=day,
                end=cycle.end, cycle=cycle, prorated=True, sign=-1,
                description=f"{name}: cancelled, refund of {_seats(state.quantity)}, "
                f"{self.days(day, cycle)}",
            )]  # fmt: skip
        return []

    def reverse(self, change, at, line):
        seats = _seats(line.quantity)
        if line.kind is LineKind.CREDIT:  # the credit of a seat change made in those 24 hours
            what = f"credit for {seats} taken back"
        else:
            what = f"full refund of {seats}"
        return dataclasses.replace(
            line,
            key=f"{self.sub.subscription_id}:{change.change_id}:refund:"
            f"{line.change_id}:{line.kind}",
            change_id=change.change_id,
            kind=LineKind.REFUND,
            charge_type="cancelImmediate",
            effective_unit_price=-line.effective_unit_price,
            amount=-line.amount,
            changed_at=at,
            time_source=TimeSource(change.time_source),
            description=f"{self.sub.product_name}: cancelled within 24 hours, "
            f"{what}, {_period(line.period_start, line.period_end)}",
        )


def bill_changes(subscription, changes, settings=None, opening=None):
    """The lines Microsoft bills for ``changes`` of ``subscription``, oldest first.

    Changes are replayed in time order (ties keep the given order). ``opening`` gives the
    state of a subscription whose purchase or last renewal precedes ``changes``; without
    it the history must start with the purchase. Raises ``ValueError`` with the reason
    when the history cannot be billed (a change before the purchase or after a
    cancellation, a repeated change id, a missing price or quantity).
    """
    settings = settings or Settings()
    biller = _Biller(subscription, settings)
    state = _State()
    if opening is not None:
        state.quantity = _quantity(opening.quantity, "Opening quantity")
        state.unit_price = _price(opening.unit_price, "Opening unit price")
        state.term_start = _utc(opening.term_start)
        state.opening_quantity = state.quantity
        if opening.billed is None:
            state.opening_charge = True
        else:
            state.term_lines = list(opening.billed)
    seen = set()
    for change in changes:
        if change.change_id in seen:
            raise ValueError(
                f"Change id {change.change_id} appears twice in the history of subscription "
                f"{subscription.subscription_id}; each change must be listed once."
            )
        seen.add(change.change_id)
    lines = []
    for change in sorted(changes, key=lambda c: _utc(c.at)):
        kind = ChangeKind(change.kind)
        at = _utc(change.at)
        if state.cancelled:
            raise ValueError(
                f"Change {change.change_id} ({kind}) comes after the subscription "
                f"{subscription.subscription_id} was cancelled; check the history's order."
            )
        if kind is ChangeKind.PURCHASE:
            lines += biller.purchase(state, change, at)
            continue
        if state.quantity is None:
            raise ValueError(
                f"Change {change.change_id} ({kind}) of subscription "
                f"{subscription.subscription_id} has no purchase or renewal before it; give "
                "the purchase in the history, or the opening quantity, price and term start."
            )
        if kind is ChangeKind.RENEWAL:
            lines += biller.renewal(state, change, at)
        elif kind is ChangeKind.QUANTITY:
            lines += biller.quantity(state, change, at)
        else:
            lines += biller.cancel(state, change, at)
    return lines


def _redescribe(line, start, end, billing_days, cycle_days):
    """``line``'s description with its period (and days) replaced by these."""
    old_period = _period(line.period_start, line.period_end)
    new_period = _period(start, end)
    old_days = f"{old_period} ({line.billing_days}/{line.cycle_days} days)"
    if old_days in line.description:
        return line.description.replace(
            old_days, f"{new_period} ({billing_days}/{cycle_days} days)", 1
        )
    # a refund within 24 hours names the period it reverses, without days
    return line.description.replace(old_period, new_period, 1)


def _piece(line, start, end, cycle_days, key):
    """``line``'s seats at its unit price, sign and rounding over ``start`` - ``end``
    (both counted) out of ``cycle_days``."""
    settings = Settings(line.currency_digits, line.rounding)
    billing_days = (end - start).days + 1
    eup, amount = amounts(line.unit_price, line.quantity, billing_days, cycle_days, settings)
    sign = -1 if line.amount < 0 or line.effective_unit_price < 0 else 1
    return dataclasses.replace(
        line, key=key, effective_unit_price=sign * eup, amount=sign * amount,
        period_start=start, period_end=end, billing_days=billing_days, cycle_days=cycle_days,
        description=_redescribe(line, start, end, billing_days, cycle_days),
    )  # fmt: skip


def _day(value):
    return _utc(value).date() if isinstance(value, dt.datetime) else value


def clip(line, last_day):
    """``line`` for the customer, ending on ``last_day`` at the latest: the same unit
    price, quantity, charge-cycle days and rounding over the billing days from the line's
    first day to ``last_day`` (both counted), with its description's period and days to
    match. ``line`` itself when it ends on or before ``last_day`` or is not pro-rated (a
    full refund, an opening charge); None when no day is left (``last_day`` before the
    line's first day). :func:`customer_lines` also covers the days after the line's
    charge cycle.
    """
    last_day = _day(last_day)
    if not line.prorated or last_day >= line.period_end:
        return line
    if last_day < line.period_start:
        return None
    return _piece(line, line.period_start, last_day, line.cycle_days, line.key)


def customer_lines(line, last_day, subscription):
    """The customer's side of Microsoft's pro-rated ``line`` (a seat change's credit or
    charge, a refund) of ``subscription``: every day from the line's first day to
    ``last_day`` (the last day the customer's recurring line invoices at the quantity
    before the change), split at Microsoft's charge-cycle boundaries, each piece
    pro-rated over its own charge cycle's days with the line's unit price, quantity and
    rounding. A tuple, oldest first:

    * ``()`` when no day is left (``last_day`` before the line's first day);
    * ``(clip(line, last_day),)`` when ``last_day`` falls inside the line's cycle (the
      line itself when it is its last day, or when the line is not pro-rated: a full
      refund, an opening charge);
    * otherwise the line itself, then one piece per further cycle up to ``last_day``:
      Microsoft bills those cycles at the new quantity itself (its next cycle's charge),
      while the customer's line already invoiced them at the old one.

    Keys are stable: the first piece keeps the line's key, the n-th piece (n >= 2) gets
    ``<key>:<n>``. Only a line that ends on its charge cycle's last day is continued (a
    line that stops elsewhere, such as the reversal of a first-period charge, keeps its
    end).
    """
    last_day = _day(last_day)
    clipped = clip(line, last_day)
    if clipped is None:
        return ()
    if clipped is not line or not line.prorated or last_day <= line.period_end:
        return (clipped,)
    cycle = charge_cycle(subscription.cycle_anchor, subscription.billing_cycle, line.period_start)
    if cycle.end != line.period_end:
        return (line,)
    pieces = [line]
    while cycle.end < last_day:
        cycle = charge_cycle(
            subscription.cycle_anchor, subscription.billing_cycle,
            cycle.end + dt.timedelta(days=1),
        )  # fmt: skip
        key = f"{line.key}:{len(pieces) + 1}"
        if cycle.end <= last_day:  # a whole charge cycle: its full price, whatever its
            # length (cycles anchored on the 29th-31st are shorter or longer than the
            # month they start in)
            pieces.append(_piece(line, cycle.start, cycle.end, cycle.length, key))
        else:
            pieces.append(_piece(line, cycle.start, last_day, cycle.cycle_days, key))
    return tuple(pieces)


def first_period_charge(subscription, change, first_invoiced, settings=None):
    """The purchase line of a subscription bought before the first period its recurring
    invoice line covers: from the purchase's day to the end of the invoicing period that
    holds it, with the rule above (that period is the charge cycle; ``subscription``'s
    ``cycle_anchor`` is the first invoiced day, its ``billing_cycle`` the invoicing
    recurrence). ``change`` is the purchase (quantity, unit price, time).

    None when the purchase does not fall in the period just before ``first_invoiced``: the
    recurring line covers it (bought on or after that day), or it is older than one period
    (a subscription that was running before its line was made is not billed again).
    """
    first_invoiced = _utc(first_invoiced).date()
    day = _utc(change.at).date()
    if day >= first_invoiced:
        return None
    cycle = charge_cycle(first_invoiced, subscription.billing_cycle, day)
    if cycle.end != first_invoiced - dt.timedelta(days=1):
        return None
    subscription = dataclasses.replace(subscription, cycle_anchor=first_invoiced)
    (line,) = bill_changes(subscription, [change], settings)
    return dataclasses.replace(line, charge_type=FIRST_DAYS)
