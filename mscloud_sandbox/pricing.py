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

Options (control API ``GET|PATCH /_control/pricing``, cleared by ``/reset``):
``extra_rows`` adds that many generated rows (products ``CFQ7TTCX`` + a number, four
plans each, every fifth going up next month) for a price sheet of Microsoft's size
(100,000 rows and more); the body is streamed, never built whole.  ``omit`` (product
ids) leaves those products off the sheet, as Microsoft does for an offer it withdrew;
``removed`` (product ids) lists them with the change indicator ``Removed``; ``bad``
(product ids) gives their rows a unit price that is no number; ``future_change``
({product id: percent}) changes those products' prices next month (``timeline=future``)
by that percent, with the indicator ``PriceIncrease`` or ``PriceDecrease``.
"""

import csv
import hashlib
import io
import itertools
import json
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


OPTIONS = ("extra_rows", "omit", "removed", "bad", "future_change")
EXTRA_PLANS = [("P1M", "Monthly"), ("P1Y", "Annual"), ("P1Y", "Monthly"), ("P3Y", "Annual")]


def options(sb):
    """The world's price sheet options (a new world, after /reset, has none)."""
    found = getattr(sb.world, "pricing_options", None)
    if found is None:
        found = sb.world.pricing_options = {}
    return found


def extra_rows(count, market, month_start, timeline):
    """``count`` generated rows (a generator: 100,000 rows are never held at once)."""
    currency, rate = MARKETS[market]
    month_end = add_months(month_start, 1) - timedelta(seconds=1)
    start, end = (
        month_start.strftime("%Y-%m-%dT%H:%M:%SZ"), month_end.strftime("%Y-%m-%dT%H:%M:%SZ")
    )  # fmt: skip
    for index in range(count):
        number, plan = divmod(index, len(EXTRA_PLANS))
        term, billing = EXTRA_PLANS[plan]
        monthly = (Decimal(1 + number % 40) * rate).quantize(TEN_CENTS) or TEN_CENTS
        change = "Unchanged"
        if timeline == "future" and number % 5 == 0:
            monthly = (monthly * Decimal("1.05")).quantize(TEN_CENTS, rounding=ROUND_HALF_UP)
            change = "PriceIncrease"
        factor = Decimal("12") if billing == "Annual" else Decimal("1.05")
        price = f"{(monthly * factor).quantize(Decimal('0.01')):.2f}"
        product = f"CFQ7TTCX{number:06d}"
        yield {
            "ChangeIndicator": change, "ProductTitle": f"Generated offer {number}",
            "ProductId": product, "SkuId": "0001", "SkuTitle": f"Generated offer {number}",
            "Publisher": "Microsoft Corporation", "SkuDescription": f"Generated {number}",
            "UnitOfMeasure": "1 License", "TermDuration": term, "BillingPlan": billing,
            "Market": market, "Currency": currency, "UnitPrice": price,
            "PricingTierRangeMin": "", "PricingTierRangeMax": "", "EffectiveStartDate": start,
            "EffectiveEndDate": end, "Tags": "License", "ERP Price": price,
            "Segment": "Commercial",
        }  # fmt: skip


def shaped(price_rows, opts, timeline="current"):
    """The rows as the options shape them: omitted, marked removed, made unparsable,
    their future price changed."""
    omit, removed, bad = (set(opts.get(k) or ()) for k in ("omit", "removed", "bad"))
    changes = opts.get("future_change") or {} if timeline == "future" else {}
    for original in price_rows:
        row = original
        product = row["ProductId"]
        if product in omit:
            continue
        if product in changes:
            factor = 1 + Decimal(str(changes[product])) / 100
            price = (Decimal(row["UnitPrice"]) * factor).quantize(Decimal("0.01"))
            erp = (Decimal(row["ERP Price"]) * factor).quantize(Decimal("0.01"))
            change = "PriceIncrease" if factor > 1 else "PriceDecrease"
            row = {**row, "UnitPrice": f"{price:.2f}", "ERP Price": f"{erp:.2f}",
                   "ChangeIndicator": change}  # fmt: skip
        if product in removed:
            row = {**row, "ChangeIndicator": "Removed"}
        if product in bad:
            row = {**row, "UnitPrice": "n/a"}
        yield row


def stream_csv(price_rows, chunk=500):
    """The CSV text in chunks of ``chunk`` rows (a streamed response body)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for count, row in enumerate(price_rows, 1):
        writer.writerow(row)
        if count % chunk == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def control(sb, request):
    """``GET``: the price sheet options; ``PATCH``: set some (null clears one)."""
    opts = options(sb)
    if request.method == "PATCH":
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) - set(OPTIONS):
            return Response(
                json.dumps({"error": f"options are {', '.join(OPTIONS)}"}),
                status=400, content_type="application/json",
            )  # fmt: skip
        for key, value in body.items():
            if value is None:
                opts.pop(key, None)
            else:
                opts[key] = value
    return Response(json.dumps(opts), content_type="application/json")


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
    opts = options(sb)
    sheet_rows = itertools.chain(
        rows(market, month_start, timeline),
        extra_rows(int(opts.get("extra_rows") or 0), market, month_start, timeline),
    )
    body = stream_csv(shaped(sheet_rows, opts, timeline))
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
