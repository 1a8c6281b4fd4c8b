# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Microsoft's licence-based price sheet in plain Python (no ORM): a row parsed or its
failure explained, the key a price is stored under, which row prices a subscription,
and what a contract line's price becomes under each price policy.

The sheet's columns (Partner Center's "updatedlicensebased" view): ``ChangeIndicator``,
``ProductId``, ``SkuId``, ``TermDuration`` (P1M, P1Y, P3Y), ``BillingPlan`` (Monthly,
Annual), ``Market``, ``Currency``, ``UnitPrice`` (the partner's price, what Microsoft
charges: the *Microsoft Cost*), ``ERP Price`` (Microsoft's estimated retail price: the
list price), ``EffectiveStartDate``, ``EffectiveEndDate``. A price is per licence and per
billing period of its plan (an Annual plan's price is the year's).
"""

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

REQUIRED = (
    "ProductId", "SkuId", "TermDuration", "BillingPlan", "Market", "Currency", "UnitPrice",
    "EffectiveStartDate",
)  # fmt: skip
# Microsoft's markets and their currencies (the sheet's own Currency column wins)
MARKET_CURRENCIES = {
    "US": "USD", "GB": "GBP", "AU": "AUD", "CA": "CAD", "NZ": "NZD", "IE": "EUR",
    "DE": "EUR", "FR": "EUR", "NL": "EUR", "BE": "EUR", "ES": "EUR", "IT": "EUR",
    "AT": "EUR", "FI": "EUR", "PT": "EUR", "DK": "DKK", "SE": "SEK", "NO": "NOK",
    "CH": "CHF", "JP": "JPY", "IN": "INR", "ZA": "ZAR", "SG": "SGD", "BR": "BRL",
}  # fmt: skip
# a subscription's billing cycle (Partner Center) -> the sheet's billing plan
PLANS = {"monthly": "Monthly", "annual": "Annual", "triennial": "Triennial"}
REMOVED = "removed"
KEEP, MARGIN, LIST = "keep", "margin", "list"
POLICIES = (KEEP, MARGIN, LIST)
CENT = Decimal("0.01")
_MARKET = re.compile(r"^[A-Z]{2}$")


def valid_market(market):
    """True for a two-letter market code (upper case), as Microsoft names markets."""
    return bool(_MARKET.match(market or ""))


class RowError(ValueError):
    """A row of the sheet that does not parse: its line and what is wrong with it."""

    def __init__(self, line, reason, product=None):
        self.line = line
        self.reason = reason
        self.product = product
        super().__init__(f"line {line}: {reason}")


@dataclass(frozen=True)
class PriceRow:
    product: str
    sku: str
    term: str
    plan: str
    market: str
    currency: str
    unit_price: Decimal
    erp_price: Decimal
    start: dt.date
    end: dt.date | None
    change: str
    title: str

    @property
    def key(self):
        """What a stored price is unique by (within a connection)."""
        return "|".join(
            (self.market, self.product, self.sku, self.term, self.plan, self.start.isoformat())
        )

    @property
    def removed(self):
        return self.change.lower() == REMOVED

    @property
    def fingerprint(self):
        """Changes when anything stored of the row changes (unchanged rows are skipped)."""
        text = "|".join(
            (self.key, self.currency, str(self.unit_price), str(self.erp_price),
             self.end.isoformat() if self.end else "", self.change, self.title)
        )  # fmt: skip
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _date(value, column, line, product):
    text = (value or "").strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise RowError(line, f"{column} '{text[:40]}' is not a date", product) from None


def _price(value, column, line, product):
    text = (value or "").strip()
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise RowError(line, f"{column} '{text[:40]}' is not a number", product) from None
    if not price.is_finite() or price < 0:
        raise RowError(line, f"{column} '{text[:40]}' is not a price", product)
    return price


def parse_row(row, line):
    """A ``PriceRow`` from one CSV row (a dict keyed by the sheet's columns), else
    ``RowError`` naming the line, the column and the value."""
    product = (row.get("ProductId") or "").strip() or None
    missing = [c for c in REQUIRED if not (row.get(c) or "").strip()]
    if missing:
        raise RowError(line, f"no value in {', '.join(missing)}", product)
    market = row["Market"].strip().upper()
    if not valid_market(market):
        raise RowError(line, f"Market '{market[:10]}' is not a two-letter market", product)
    unit = _price(row["UnitPrice"], "UnitPrice", line, product)
    erp_text = (row.get("ERP Price") or "").strip()
    erp = _price(erp_text, "ERP Price", line, product) if erp_text else unit
    end_text = (row.get("EffectiveEndDate") or "").strip()
    return PriceRow(
        product=product,
        sku=row["SkuId"].strip(),
        term=row["TermDuration"].strip().upper(),
        plan=row["BillingPlan"].strip().capitalize(),
        market=market,
        currency=row["Currency"].strip().upper(),
        unit_price=unit,
        erp_price=erp,
        start=_date(row["EffectiveStartDate"], "EffectiveStartDate", line, product),
        end=_date(end_text, "EffectiveEndDate", line, product) if end_text else None,
        change=(row.get("ChangeIndicator") or "").strip(),
        title=(row.get("SkuTitle") or row.get("ProductTitle") or "").strip()[:200],
    )


def parse_rows(reader):
    """``(line, PriceRow or RowError)`` for each row of a ``csv.DictReader`` (line 1 is
    the header), one at a time: the sheet is never held whole."""
    for line, row in enumerate(reader, 2):
        try:
            yield line, parse_row(row, line)
        except RowError as exc:
            yield line, exc


def check_header(fieldnames):
    """The required columns a sheet's header lacks (an empty list when it is usable)."""
    names = {(name or "").strip() for name in fieldnames or ()}
    return [column for column in REQUIRED if column not in names]


def offer_parts(offer_id):
    """(product id, SKU id) of a Partner Center offer id ``PRODUCT:SKU[:AVAILABILITY]``,
    as the price sheet names them; (None, None) for a legacy offer (no colon)."""
    product, sep, rest = (offer_id or "").partition(":")
    if not sep:
        return None, None
    return product.upper(), rest.split(":")[0]


def plan_of(billing_cycle):
    """The sheet's billing plan of a Partner Center billing cycle (None: not on it)."""
    return PLANS.get((billing_cycle or "").lower())


def price_key(offer_id, term, billing_cycle):
    """(product, SKU, term, plan) of a subscription, or None when no row can price it."""
    product, sku = offer_parts(offer_id)
    plan = plan_of(billing_cycle)
    if not (product and sku and term and plan):
        return None
    return product, sku, term.upper(), plan


def in_force(rows, day):
    """Of ``rows`` (objects with ``start``, ``end``, ``removed``), the one in force on
    ``day``: started on or before it, not ended before it, the latest start; None."""
    best = None
    for row in rows:
        if row.removed or row.start > day or (row.end and row.end < day):
            continue
        if best is None or row.start > best.start:
            best = row
    return best


def to_cents(value):
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def line_price(policy, line_price, old_cost, new_cost, new_list):
    """(the contract line's new price, why) when Microsoft's cost goes from ``old_cost``
    to ``new_cost`` and its list price is ``new_list``, under ``policy``:

    - keep: the line keeps its price (the margin absorbs the change);
    - margin: the line's price moves with the cost so the margin % stays (price / cost
      kept; a line without a known old cost keeps its price);
    - list: the line takes Microsoft's list price.
    """
    price = to_cents(line_price)
    if policy == LIST:
        return to_cents(new_list), "list"
    if policy == MARGIN:
        old, new = to_cents(old_cost), to_cents(new_cost)
        if old <= 0:
            return price, "no_cost"
        return to_cents(price * new / old), "margin"
    return price, "keep"


def margin_percent(price, cost):
    """The margin as a % of the price (None without a price)."""
    price, cost = to_cents(price), to_cents(cost)
    if price <= 0:
        return None
    return ((price - cost) / price * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def line_due(effective, next_period_start):
    """True when a new price effective on ``effective`` may go on a contract line whose
    next period to invoice starts ``next_period_start``: a price never changes a period
    already invoiced, and a later price waits for the period it belongs to."""
    return next_period_start is None or effective <= next_period_start


def month_start(day):
    return day.replace(day=1)


def next_month(day):
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def explain_bad_rows(errors, total, limit=5):
    """The run's explanation of the rows that did not parse (their count, the first
    ``limit`` with line and cause, and what to do), or '' when all parsed."""
    if not errors:
        return ""
    shown = "; ".join(
        f"line {e.line}{f' ({e.product})' if e.product else ''}: {e.reason}" for e in errors[:limit]
    )
    more = f" and {len(errors) - limit} more" if len(errors) > limit else ""
    return (
        f"{len(errors)} of {total} price sheet rows did not parse and were skipped "
        f"({shown}{more}). The other rows were imported; the prices these rows would "
        "have given keep their last known value. Microsoft's file had rows with a "
        "missing or malformed value: import the prices again later, and if the same "
        "lines fail, report them to Microsoft support with the file's month and market."
    )
