# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Azure consumption: plain rules, no ORM.

* :func:`aggregate` folds Microsoft's usage records (one per resource, meter and day;
  any iterable, consumed once) into totals per customer, Azure subscription, meter and
  charge period: quantity, Microsoft's cost (``BillingPreTaxTotal``, after partner earned
  credit), the list amount (``UnitPrice`` x ``Quantity`` in the billing currency) and the
  partner earned credit (list - cost) where the file carries its percentage.
* :func:`match_rule` maps a meter to a product by rules in sequence (category,
  subcategory, name, region; empty = any, ``*`` and ``?`` as wildcards), else the
  fallback; :func:`markup_for` says which markup applies.
* :func:`customer_lines` makes one line per customer, product and period, in the
  customer's words; :func:`plan_product` says what to do with a product's existing
  lines of that period (replace the ones not yet invoiced; a difference with what was
  invoiced becomes an adjustment line of its own, with its cause).
"""

import datetime as dt
import fnmatch
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
USAGE = "usage"
ADJUSTMENT = "adjustment"
MARKUP_CUSTOMER = "customer"  # a rule's markup: the customer's
MARKUP_RULE = "rule"  # the rule's own percentage
MARKUP_NONE = "none"  # sold at list price


@dataclass(frozen=True)
class MeterKey:
    """What a usage total is kept per (with its customer and period)."""

    customer: str  # the customer's tenant id
    subscription: str  # the Azure subscription (EntitlementId)
    category: str
    subcategory: str
    name: str
    region: str
    unit: str
    period_start: dt.date
    period_end: dt.date


@dataclass
class Totals:
    quantity: float = 0.0
    cost: float = 0.0  # what Microsoft charges the partner (billing currency)
    list_amount: float = 0.0  # at list price (billing currency)
    credit: float = 0.0  # partner earned credit (list - cost), where the file says it
    records: int = 0
    currency: str = ""
    invoice: str = ""
    subscription_name: str = ""
    customer_name: str = ""


class BadRecord(ValueError):
    """A usage record without the fields a total needs."""


def _date(value):
    text = str(value or "")[:10]
    return dt.date.fromisoformat(text)


def _number(value):
    if value in (None, ""):
        return 0.0
    return float(value)


def record_key(record):
    """The MeterKey of one usage record (BadRecord when it has no customer or period)."""
    customer = str(record.get("CustomerId") or "").lower()
    if not customer:
        raise BadRecord("a usage record without CustomerId")
    try:
        start = _date(record.get("ChargeStartDate"))
        end = _date(record.get("ChargeEndDate"))
    except ValueError:
        raise BadRecord(f"a usage record of {customer} without a charge period") from None
    return MeterKey(
        customer,
        str(record.get("EntitlementId") or record.get("SubscriptionId") or "").lower(),
        str(record.get("MeterCategory") or ""),
        str(record.get("MeterSubCategory") or ""),
        str(record.get("MeterName") or ""),
        str(record.get("MeterRegion") or ""),
        str(record.get("Unit") or record.get("UnitOfMeasure") or ""),
        start,
        end,
    )


def aggregate(records, totals=None):
    """{MeterKey: Totals} of ``records`` (added to ``totals`` when given). Returns
    (totals, bad): ``bad`` counts the records without customer or period."""
    totals = {} if totals is None else totals
    bad = 0
    keys = {}  # the same record fields give the same key: built once per meter and day
    for record in records:
        signature = (
            record.get("CustomerId"), record.get("EntitlementId"),
            record.get("SubscriptionId"), record.get("MeterCategory"),
            record.get("MeterSubCategory"), record.get("MeterName"),
            record.get("MeterRegion"), record.get("Unit"),
            record.get("ChargeStartDate"), record.get("ChargeEndDate"),
        )  # fmt: skip
        key = keys.get(signature)
        if key is None:
            try:
                key = keys[signature] = record_key(record)
            except BadRecord:
                bad += 1
                continue
        total = totals.get(key)
        if total is None:
            total = totals[key] = Totals(
                currency=str(record.get("BillingCurrency") or ""),
                invoice=str(record.get("InvoiceNumber") or ""),
                subscription_name=str(record.get("EntitlementDescription") or ""),
                customer_name=str(record.get("CustomerName") or ""),
            )
        quantity = _number(record.get("Quantity"))
        cost = _number(record.get("BillingPreTaxTotal"))
        rate = record.get("PCToBCExchangeRate")
        unit_price = record.get("UnitPrice")
        credit_percent = record.get("PartnerEarnedCreditPercentage")
        if unit_price not in (None, ""):
            listed = quantity * float(unit_price) * (_number(rate) if rate else 1.0)
        else:
            listed = cost
        total.quantity += quantity
        total.cost += cost
        total.list_amount += listed
        if credit_percent not in (None, "") and float(credit_percent):
            total.credit += listed - cost
        total.records += 1
    return totals, bad


# -- meter rules -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    id: int
    product: int
    category: str = ""
    subcategory: str = ""
    name: str = ""
    region: str = ""
    markup_mode: str = MARKUP_CUSTOMER
    markup: float = 0.0


def _fits(pattern, value):
    pattern = (pattern or "").strip().lower()
    if not pattern:
        return True
    return fnmatch.fnmatchcase((value or "").strip().lower(), pattern)


def match_rule(rules, key):
    """The first rule (in the given order) whose every filled field fits the meter."""
    for rule in rules:
        if (
            _fits(rule.category, key.category)
            and _fits(rule.subcategory, key.subcategory)
            and _fits(rule.name, key.name)
            and _fits(rule.region, key.region)
        ):
            return rule
    return None


def markup_for(rule, customer_markup):
    """The markup % of a meter: the rule's own, none, or (by default, and for the
    fallback product) the customer's (0: none)."""
    if rule is not None and rule.markup_mode == MARKUP_RULE:
        return Decimal(str(rule.markup or 0))
    if rule is not None and rule.markup_mode == MARKUP_NONE:
        return Decimal(0)
    return Decimal(str(customer_markup or 0))


def meter_label(key):
    return " / ".join(p for p in (key.category, key.subcategory, key.name, key.region) if p)


# -- customer lines ----------------------------------------------------------------------


@dataclass
class Line:
    """The wanted line of one customer, product and period."""

    customer: str
    product: int
    period_start: dt.date
    period_end: dt.date
    amount: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    quantity: float = 0.0
    units: set = field(default_factory=set)
    meters: int = 0

    def price(self, currency_digits=2, price_digits=4, quantity_digits=4):
        """(quantity, unit price): the meters' quantity (at ``quantity_digits``) when they
        share one unit and a unit price at ``price_digits`` gives the amount to the cent;
        else 1 x amount."""
        quantity = round(self.quantity, quantity_digits)
        if len(self.units) == 1 and quantity > 0:
            exp = Decimal(1).scaleb(-price_digits)
            unit_price = (self.amount / Decimal(str(quantity))).quantize(exp, ROUND_HALF_UP)
            cents = Decimal(1).scaleb(-currency_digits)
            total = (unit_price * Decimal(str(quantity))).quantize(cents, ROUND_HALF_UP)
            if total == self.amount:
                return quantity, unit_price
        return 1.0, self.amount


@dataclass
class Unmapped:
    customer: str
    key: MeterKey
    totals: Totals


def customer_lines(totals, rules, fallback, customer_markups, currency_digits=2):
    """([Line], [Unmapped]): the meters' totals summed per customer, product and period,
    at list price plus markup, rounded to the currency. ``customer_markups``: {customer:
    markup %}. A customer with an unmapped meter gets no line for that period (its
    period is all or nothing); the unmapped meters are returned to be explained."""
    cents = Decimal(1).scaleb(-currency_digits)
    lines = {}
    unmapped = []
    blocked = set()
    for key, total in totals.items():
        rule = match_rule(rules, key)
        product = rule.product if rule is not None else fallback
        if not product:
            unmapped.append(Unmapped(key.customer, key, total))
            blocked.add((key.customer, key.period_start, key.period_end))
            continue
        markup = markup_for(rule, customer_markups.get(key.customer))
        listed = Decimal(str(round(total.list_amount, 6)))
        index = (key.customer, product, key.period_start, key.period_end)
        line = lines.get(index)
        if line is None:
            line = lines[index] = Line(key.customer, product, key.period_start, key.period_end)
        line.amount += listed * (100 + markup) / 100
        line.cost += Decimal(str(round(total.cost, 6)))
        line.quantity += total.quantity
        line.units.add(key.unit)
        line.meters += 1
    result = []
    for (customer, _product, start, end), line in sorted(
        lines.items(), key=lambda item: (item[0][0], item[0][2], item[0][1])
    ):
        if (customer, start, end) in blocked:
            continue
        line.amount = line.amount.quantize(cents, ROUND_HALF_UP)
        line.cost = line.cost.quantize(cents, ROUND_HALF_UP)
        result.append(line)
    return result, unmapped


def line_name(product_name, period_text, quantity, unit):
    """'Azure Virtual Machines: usage 1-31 Dec 2026 (372.5 x 1 Hour)'."""
    amount = f"{quantity:g} \N{MULTIPLICATION SIGN} {unit}" if unit else ""
    return f"{product_name}: usage {period_text}" + (f" ({amount})" if amount else "")


def adjustment_name(product_name, period_text):
    return f"{product_name}: usage {period_text}, correction after invoicing"


# -- what to do with a product's existing lines of a period -------------------------------


@dataclass(frozen=True)
class Existing:
    """An Odoo line of one customer, product and period, as it is."""

    id: int
    kind: str  # USAGE / ADJUSTMENT
    amount: Decimal
    invoiced: bool
    quantity: float = 0.0
    price_unit: Decimal = Decimal(0)
    name: str = ""


@dataclass(frozen=True)
class Target:
    kind: str
    quantity: float
    price_unit: Decimal
    amount: Decimal
    invoiced_amount: Decimal = Decimal(0)
    name: str = ""


@dataclass
class Plan:
    create: Target | None = None
    write: tuple | None = None  # (Existing, Target)
    cancel: list = field(default_factory=list)  # [Existing]

    def changes(self):
        return bool(self.create or self.write or self.cancel)


def plan_product(existing, quantity, price_unit, amount, name="", correction_name=""):
    """What to do with one product's lines of one period for the wanted ``amount``
    (``quantity`` x ``price_unit``): nothing invoiced yet, one usage line with the wanted
    values (the others cancelled); something invoiced, those lines left as they are and
    the difference, if any, one adjustment line not yet invoiced. A line with the wanted
    values is kept as it is (a re-import with no change writes nothing)."""
    invoiced = [line for line in existing if line.invoiced]
    pending = [line for line in existing if not line.invoiced]
    if not invoiced:
        target = Target(USAGE, quantity, price_unit, amount, name=name) if amount else None
    else:
        done = sum((line.amount for line in invoiced), Decimal(0))
        difference = amount - done
        target = (
            Target(ADJUSTMENT, 1.0, difference, difference, done, correction_name)
            if difference
            else None
        )
    plan = Plan()
    same_kind = [line for line in pending if target and line.kind == target.kind]
    keep = same_kind[0] if same_kind else None
    plan.cancel = [line for line in pending if line is not keep]
    if target is None:
        return plan
    if keep is None:
        plan.create = target
    elif (
        abs(keep.quantity - target.quantity) > 1e-6
        or keep.price_unit != target.price_unit
        or keep.name != target.name
    ):
        plan.write = (keep, target)
    return plan


# -- budget --------------------------------------------------------------------------------


def month_start(day):
    return day.replace(day=1)


def previous_month(day):
    return month_start(month_start(day) - dt.timedelta(days=1))


def over_budget(usage, budget):
    """Whether this month's usage passed a budget (no budget: never)."""
    return bool(budget) and budget > 0 and usage > budget
