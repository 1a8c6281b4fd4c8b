"""The partner price sheet (``https://api.partner.microsoft.com``), license-based view.

``GET /v1.0/sales/pricesheets(Market='GB',PricesheetView='updatedlicensebased')/$value``
(paths relative to ``/pricing``) answers the new-commerce licence price list as CSV for
the markets GB, US, AU, CA and NZ.  ``timeline`` is ``current`` (default), ``history``
(with ``month=YYYYMM``) or ``future`` (next month, some prices going up).

Prices derive from the catalogue's USD list price (annual term, billed annually, per
licence per month): local price = USD x the market's rate, rounded to 10 cents; the
annual term billed monthly costs 5% more per month and the monthly term 20% more.
Rows: per SKU, P1M/Monthly, P1Y/Annual (price per year), P1Y/Monthly, and for suites
also P3Y/Annual and P3Y/Monthly.  Free SKUs are not on the price list.
"""

import csv
import hashlib
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from .generate import add_months, catalogue
from .partner_center import fail

COLUMNS = [
    "ChangeIndicator", "ProductTitle", "ProductId", "SkuId", "SkuTitle", "Publisher",
    "SkuDescription", "UnitOfMeasure", "TermDuration", "BillingPlan", "Market", "Currency",
    "UnitPrice", "PricingTierRangeMin", "PricingTierRangeMax", "EffectiveStartDate",
    "EffectiveEndDate", "Tags", "ERP Price", "Segment",
]  # fmt: skip
MARKETS = {
    "US": ("USD", Decimal("1.00")),
    "GB": ("GBP", Decimal("0.82")),
    "AU": ("AUD", Decimal("1.50")),
    "CA": ("CAD", Decimal("1.37")),
    "NZ": ("NZD", Decimal("1.65")),
}
VIEW = "updatedlicensebased"
KNOWN_VIEWS = {"azure_consumption", "azure_reservations", VIEW, "marketplace", "software"}
_SHEET = re.compile(
    r"^pricesheets\(\s*Market\s*=\s*'(?P<market>[^']*)'\s*,"
    r"\s*PricesheetView\s*=\s*'(?P<view>[^']*)'\s*\)/\$value$",
    re.IGNORECASE,
)
# (term, billing plan, multiplier of the monthly list price)
PLANS = [
    ("P1M", "Monthly", Decimal("1.20")),
    ("P1Y", "Annual", Decimal("12")),
    ("P1Y", "Monthly", Decimal("1.05")),
]
SUITE_PLANS = [("P3Y", "Annual", Decimal("12")), ("P3Y", "Monthly", Decimal("1.05"))]
TEN_CENTS = Decimal("0.1")


def market_price(usd, market):
    """Monthly list price of a licence in the market's currency, rounded to 10 cents."""
    rate = MARKETS[market][1]
    price = (Decimal(str(usd)) * rate).quantize(TEN_CENTS, rounding=ROUND_HALF_UP)
    return max(price, TEN_CENTS)


def _future_increase(sku):
    """Every fifth SKU (stable hash) goes up 5% next month."""
    return int(hashlib.sha256(sku.sku_id.encode()).hexdigest(), 16) % 5 == 0


def rows(market, month_start, timeline):
    """Price list rows (dicts keyed by COLUMNS) for one market and month."""
    currency = MARKETS[market][0]
    month_end = add_months(month_start, 1) - timedelta(seconds=1)
    out = []
    for sku in catalogue().values():
        if sku.free:
            continue
        monthly = market_price(sku.list_price_usd, market)
        change = "Unchanged"
        if timeline == "future" and _future_increase(sku):
            monthly = (monthly * Decimal("1.05")).quantize(TEN_CENTS, rounding=ROUND_HALF_UP)
            change = "PriceIncrease"
        plans = PLANS + (SUITE_PLANS if sku.category.startswith("suite") else [])
        for term, billing, factor in plans:
            price = (monthly * factor).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            out.append(
                {
                    "ChangeIndicator": change,
                    "ProductTitle": sku.product_name,
                    "ProductId": sku.nce_product_id,
                    "SkuId": sku.nce_sku_id,
                    "SkuTitle": sku.product_name,
                    "Publisher": "Microsoft Corporation",
                    "SkuDescription": f"{sku.product_name} ({sku.sku_part_number})",
                    "UnitOfMeasure": "1 License",
                    "TermDuration": term,
                    "BillingPlan": billing,
                    "Market": market,
                    "Currency": currency,
                    "UnitPrice": f"{price:.2f}",
                    "PricingTierRangeMin": "",
                    "PricingTierRangeMax": "",
                    "EffectiveStartDate": month_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "EffectiveEndDate": month_end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "Tags": "License",
                    "ERP Price": f"{price:.2f}",
                    "Segment": "Commercial",
                }
            )
    return out


def to_csv(price_rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(price_rows)
    return buffer.getvalue()


def _month_start(sb, request, timeline):
    now = sb.clock.now()
    current = datetime(now.year, now.month, 1, tzinfo=UTC)
    if timeline == "current":
        return current
    if timeline == "future":
        return add_months(current, 1)
    month = request.args.get("month", "")
    if not re.fullmatch(r"\d{4}(0[1-9]|1[0-2])", month):
        fail(400, 800002, "timeline=history requires month=YYYYMM.")
    start = datetime(int(month[:4]), int(month[4:]), 1, tzinfo=UTC)
    if start > current:
        fail(400, 800002, f"The month {month} is in the future; use timeline=future.")
    return start


def price_sheet(sb, request, sheet):
    sb.require_token(request, "pricing")
    found = _SHEET.match(sheet)
    if found is None:
        fail(404, 404, f"The resource '/v1.0/sales/{sheet}' was not found.")
    market, view = found["market"].upper(), found["view"].lower()
    if view not in KNOWN_VIEWS:
        fail(400, 800002, f"'{found['view']}' is not a valid PricesheetView.")
    if view != VIEW:
        fail(400, 800042, f"The sandbox serves only the '{VIEW}' price sheet view.")
    if market not in MARKETS:
        fail(400, 800002, f"'{found['market']}' is not a supported market.")
    timeline = request.args.get("timeline", "current").lower()
    if timeline not in ("current", "history", "future"):
        fail(400, 800002, "timeline must be current, history or future.")
    month_start = _month_start(sb, request, timeline)
    body = to_csv(rows(market, month_start, timeline))
    filename = f"pricesheet_{market}_{VIEW}_{month_start:%Y%m}.csv"
    return Response(
        body,
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


url_map = Map(
    [Rule("/v1.0/sales/<path:sheet>", endpoint=price_sheet, methods=["GET"])],
    strict_slashes=False,
)
