"""Partner Center's billed invoices and their reconciliation line items, consistent with
the sandbox's subscriptions (``unbilled.py``'s ledger) and Azure usage
(``usage_exports.py``).

``GET /v1/invoices`` lists the partner's one-time (new commerce) invoices: one per
currency and month Microsoft has invoiced (from the 9th of the next month: Microsoft
issues its invoices between the 6th and the 8th), of the last :data:`MONTHS_KEPT`
months, newest first, paged with ``size`` and ``links.next`` carrying the
``MS-ContinuationToken`` header.  Ids are written as Microsoft's one-time invoices are,
``G`` and digits; dates alternate between Microsoft's shapes (``...T00:00:00Z``, with a
7-digit fraction, or with an offset), and the fields Microsoft leaves out of a list
(``pdfDownloadLink``, ``amendments``) are absent.

``GET /v1/invoices/{id}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems``
answers that invoice's reconciliation line items, paged as the unbilled ones (``size`` at
most 2000, ``links.next`` with the token, no token in the body): the licence charges
of the month (the same lines Partner Center listed unbilled for it, with the invoice
number), then one line per Azure meter and customer with an Azure plan (the month's
usage of ``usage_exports.py`` summed, after partner earned credit), with ``meterId``,
``meterName``, ``entitlementId``; an Azure line is always written with its
dates as a bare date, and its ``unitPrice`` left out every other line.
:func:`register` (called by ``app.py``) adds both routes.
"""

from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from werkzeug.routing import Rule

from . import errors, pricing, usage_exports
from .generate import add_months
from .partner_center import _decode_token, _link, _paged, endpoint, fail, url_map
from .unbilled import MAX_LINE_ITEMS_PAGE, window_line_items

MONTHS_KEPT = 6
INVOICE_PAGE_MAX = 200
CENT = Decimal("0.01")
SYMBOLS = {"USD": "$", "GBP": "£", "EUR": "€", "AUD": "$", "CAD": "$", "NZD": "$"}
_DATE_SHAPES = (
    "{:%Y-%m-%d}T00:00:00Z",
    "{:%Y-%m-%d}T00:00:00.0000000Z",
    "{:%Y-%m-%d}T00:00:00+00:00",
)


def _currencies(sb):
    return sorted({pricing.MARKETS[m][0] for m in pricing.MARKETS} | {"USD"})


def billed_months(now):
    """The first instants of the months Microsoft has invoiced by ``now``, newest first."""
    first = datetime(now.year, now.month, 1, tzinfo=UTC)
    latest = add_months(first, -1) if now.day > 8 else add_months(first, -2)
    return [add_months(latest, -back) for back in range(MONTHS_KEPT)]


def _last_day(month):
    return (add_months(month, 1) - timedelta(days=1)).date()


def invoice_id(month, currency):
    index = _currencies(None).index(currency) + 1
    return f"G{month:%Y%m}{index:03d}"


def _parse_id(value):
    text = (value or "").strip().upper()
    if len(text) != 10 or not text.startswith("G") or not text[1:].isdigit():
        return None
    try:
        month = datetime(int(text[1:5]), int(text[5:7]), 1, tzinfo=UTC)
        currency = _currencies(None)[int(text[7:]) - 1]
    except (ValueError, IndexError):
        return None
    return month, currency


def azure_lines(sb, month, currency, invoice):
    """One line per customer and meter of the month's Azure usage in ``currency`` (the
    customers billed in it), as the billed reconciliation file writes Azure plan charges."""
    first, last = month.date(), _last_day(month)
    export = usage_exports.Export(
        id="invoice", kind="billed", created=sb.clock.now(), period=(first, last, last),
        currency=currency, invoice=invoice, attribute_set="full",
    )  # fmt: skip
    totals = OrderedDict()
    for record in usage_exports.usage_records(sb.world, export):
        tenant = sb.world.tenants.get(record["CustomerId"].lower())
        market = tenant.country if tenant and tenant.country in pricing.MARKETS else "US"
        if pricing.MARKETS[market][0] != currency:
            continue
        key = (record["CustomerId"], record["MeterId"])
        entry = totals.setdefault(key, {"record": record, "quantity": 0.0, "total": Decimal(0)})
        entry["quantity"] += record["Quantity"]
        entry["total"] += Decimal(str(record["BillingPreTaxTotal"]))
    lines = []
    for position, entry in enumerate(totals.values()):
        record = entry["record"]
        subtotal = entry["total"].quantize(CENT, ROUND_HALF_UP)
        line = {
            "partnerId": sb.world.partner_tenant_id,
            "customerId": record["CustomerId"],
            "customerName": record["CustomerName"],
            "customerDomainName": record["CustomerDomainName"],
            "customerCountry": record["CustomerCountry"],
            "invoiceNumber": invoice,
            "productId": record["ProductId"],
            "skuId": record["SkuId"],
            "productName": record["ProductName"],
            "skuName": record["SkuName"],
            "chargeType": "new",
            "unitPrice": record["EffectiveUnitPrice"],
            "quantity": round(entry["quantity"], 6),
            "unitType": record["Unit"],
            "subtotal": float(subtotal),
            "taxTotal": 0.0,
            "totalForCustomer": float(subtotal),
            "currency": currency,
            "subscriptionDescription": "Azure plan",
            "subscriptionId": record["SubscriptionId"],
            "entitlementId": record["EntitlementId"],
            "entitlementDescription": record["EntitlementDescription"],
            "meterId": record["MeterId"],
            "meterName": record["MeterName"],
            "meterCategory": record["MeterCategory"],
            "partnerEarnedCreditPercentage": record["PartnerEarnedCreditPercentage"],
            "chargeStartDate": f"{first:%Y-%m-%d}",
            "chargeEndDate": f"{last:%Y-%m-%d}",
            "productCategory": "Azure",
            "invoiceLineItemType": "billinglineitems",
            "billingProvider": "one_time",
            "attributes": {"objectType": "OneTimeInvoiceLineItem"},
        }
        if position % 2:
            del line["unitPrice"]  # a field Microsoft sometimes leaves out
        lines.append(line)
    return lines


def invoice_line_items(sb, month, currency):
    """Every reconciliation line item of the invoice of ``month`` in ``currency``."""
    number = invoice_id(month, currency)
    items = window_line_items(sb, currency, month, add_months(month, 1))
    for item in items:
        item["invoiceNumber"] = number
    return items + azure_lines(sb, month, currency, number)


def _money(value):
    value = Decimal(value).quantize(CENT)
    return int(value) if value == value.to_integral_value() else float(value)


def invoice_json(sb, month, currency, position, items=None):
    number = invoice_id(month, currency)
    items = invoice_line_items(sb, month, currency) if items is None else items
    total = sum((Decimal(str(item["subtotal"])) for item in items), Decimal(0))
    shape = _DATE_SHAPES[position % len(_DATE_SHAPES)]
    end = _last_day(month)
    base = f"/invoices/{number}"
    return {
        "id": number,
        "invoiceDate": shape.format(add_months(month, 1).replace(day=7)),
        "billingPeriodStartDate": shape.format(month),
        "billingPeriodEndDate": shape.format(end),
        "totalCharges": _money(total),
        "paidAmount": 0,
        "currencyCode": currency,
        "currencySymbol": SYMBOLS.get(currency, currency),
        "documentType": "Invoice",
        "invoiceType": "OneTime",
        "invoiceDetails": [
            {
                "invoiceLineItemType": "billing_line_items",
                "billingProvider": "one_time",
                "links": {"self": _link(f"{base}/lineitems/OneTime/BillingLineItems")},
                "attributes": {"objectType": "InvoiceDetail"},
            }
        ],
        "links": {"self": _link(base)},
        "attributes": {"objectType": "Invoice"},
    }


def all_invoices(sb):
    """The partner's invoices, newest first: a month and currency with a charge."""
    found = []
    for month in billed_months(sb.clock.now()):
        for currency in _currencies(sb):
            with sb.world.lock:
                items = invoice_line_items(sb, month, currency)
            if items:
                found.append(invoice_json(sb, month, currency, len(found), items))
    return found


@endpoint
def list_invoices(sb, request):
    args = {key.lower(): value for key, value in request.args.items()}
    if args.get("seekoperation", "").lower() == "next":
        token = request.headers.get("MS-ContinuationToken")
        if not token:
            fail(400, 800002, "seekOperation=Next requires the MS-ContinuationToken header.")
        offset, size, query = _decode_token(token, "invoices")
    else:
        size = args.get("size", str(INVOICE_PAGE_MAX))
        if not size.isdigit() or not 1 <= int(size) <= INVOICE_PAGE_MAX:
            fail(400, 800002, f"size must be a number from 1 to {INVOICE_PAGE_MAX}.")
        offset, size, query = 0, int(size), {}
    body = _paged(all_invoices(sb), "invoices", "/v1/invoices", offset, size, query)
    body.pop("continuationToken", None)
    return errors.json_response(body)


@endpoint
def get_invoice(sb, request, invoice_id):
    parsed = _parse_id(invoice_id)
    if parsed is None or parsed[0] not in billed_months(sb.clock.now()):
        fail(404, 2000, f"Invoice {invoice_id} was not found.")
    with sb.world.lock:
        return errors.json_response(invoice_json(sb, *parsed, 0))


@endpoint
def invoice_lineitems(sb, request, invoice_id):
    parsed = _parse_id(invoice_id)
    if parsed is None or parsed[0] not in billed_months(sb.clock.now()):
        fail(404, 2000, f"Invoice {invoice_id} was not found.")
    args = {key.lower(): value for key, value in request.args.items()}
    if args.get("provider", "").lower() != "onetime":
        fail(400, 400008, "provider must be 'onetime' for this invoice's line items.")
    if args.get("invoicelineitemtype", "").lower() != "billinglineitems":
        fail(400, 400008, "invoicelineitemtype must be 'billinglineitems'.")
    query = {"provider": "onetime", "invoicelineitemtype": "billinglineitems"}
    if args.get("seekoperation", "").lower() == "next":
        token = request.headers.get("MS-ContinuationToken")
        if not token:
            fail(400, 800002, "seekOperation=Next requires the MS-ContinuationToken header.")
        offset, size, query = _decode_token(token, f"invoicelineitems:{invoice_id.upper()}")
    else:
        size = args.get("size", str(MAX_LINE_ITEMS_PAGE))
        if not size.isdigit() or not 1 <= int(size) <= MAX_LINE_ITEMS_PAGE:
            fail(400, 800002, f"size must be a number from 1 to {MAX_LINE_ITEMS_PAGE}.")
        offset, size = 0, int(size)
    with sb.world.lock:
        items = invoice_line_items(sb, *parsed)
    path = f"/v1/invoices/{invoice_id.upper()}/lineitems"
    body = _paged(items, f"invoicelineitems:{invoice_id.upper()}", path, offset, size, query)
    body.pop("continuationToken", None)
    return errors.json_response(body)


def register():
    """Add the invoice routes to Partner Center's (a second call changes nothing)."""
    if "/v1/invoices" in {rule.rule for rule in url_map.iter_rules()}:
        return
    url_map.add(Rule("/v1/invoices", endpoint=list_invoices, methods=["GET"]))
    url_map.add(Rule("/v1/invoices/<invoice_id>", endpoint=get_invoice, methods=["GET"]))
    url_map.add(
        Rule("/v1/invoices/<invoice_id>/lineitems", endpoint=invoice_lineitems, methods=["GET"])
    )
