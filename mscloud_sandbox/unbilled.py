"""Partner Center's unbilled reconciliation line items for licence-based (new commerce)
subscriptions, computed by the sandbox from its own subscription changes.

``GET /v1/invoices/unbilled/lineitems?provider=onetime&invoicelineitemtype=billinglineitems
&currencycode=EUR&period=current`` (paths relative to ``/partnercenter``) answers the
current calendar month's lines in that currency, paged like Partner Center: ``size``
(at most 2000), then ``links.next`` with ``seekOperation=Next`` and the
``MS-ContinuationToken`` header.  ``period=previous`` answers the month before.
:func:`register` (called by ``app.py``) adds this route, ``/_control/billing`` and the
billing of subscription changes to Partner Center's and the control API's routes.

What is billed.  The sandbox keeps a ledger of the changes it sees: a subscription created
through the control API (a purchase at its ``effectiveStartDate``), quantity changes and
cancellations (status ``deleted``) made through Partner Center's PATCH or the control
API.  Subscriptions of the generated world that were never changed bill their purchase
when it falls in the period, and each term's renewal (an anniversary of the start by the
term's length, ``renew``) at the full price; a term longer than its billing cycle (a
one-year term billed monthly) bills every other cycle's start at the full price too
(``cycleCharge``).  Prices come from the sandbox's price sheet (the customer's market; a
market outside the sheet bills in USD).

The answer has the documented shape (Partner Center's REST example for this call): pages
of ``items`` with a ``totalCount`` of the page, ``links.next`` (with or without ``/v1``)
carrying the ``MS-ContinuationToken`` header and no token in the body; whole amounts as
JSON integers; fields Microsoft leaves empty (invoice number, MPN ids, availability,
promotion, price adjustment) absent from every other item; charge dates written as
midnight UTC, with a 7-digit fraction, or as a bare date, and order dates with 7-digit
fractions.

This module is the sandbox's *own* small implementation of Microsoft's rule, written
independently of the billing add-on so a comparison between them can fail:

* charge cycles run from the subscription's start day; a day missing in a month (29th-31st)
  is that month's last day; an annual cycle runs to the day before the anniversary;
* billed days run from the change's day to the cycle's end, both counted; the divisor is
  the number of days of the month the cycle started in (monthly), or of the cycle (annual);
* a seat change is a credit of the old quantity and a charge of the new one over the same
  days (charge type ``addQuantity`` or ``removeQuantity``);
* a cancellation within 24 hours of the term's start refunds every line of the term,
  within 168 hours the remaining days of the current cycle, later nothing;
* rounding is a sandbox option (:func:`set_rounding`, or ``PUT /_control/billing``):
  ``reconciliation_file`` (default: effective unit price cut to cents, times the quantity),
  ``truncate_line`` (the exact amount cut to cents) or ``half_up`` (exact amount, half up).
"""

import calendar
import functools
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from werkzeug.routing import Rule

from . import control, errors, pricing
from .generate import TERM_MONTHS, add_months, catalogue
from .partner_center import (
    _decode_token,
    _paged,
    endpoint,
    fail,
    patch_subscription,
    url_map,
)

ROUNDING_RULES = ("reconciliation_file", "truncate_line", "half_up")
MAX_LINE_ITEMS_PAGE = 2000
CENT = Decimal("0.01")
_KEY = "unbilled"

# price sheet plans: (termDuration, billingCycle) -> multiplier of the monthly list price
_PLAN_FACTOR = {
    ("P1M", "monthly"): Decimal("1.20"),
    ("P1Y", "monthly"): Decimal("1.05"),
    ("P1Y", "annual"): Decimal("12"),
    ("P3Y", "monthly"): Decimal("1.05"),
    ("P3Y", "annual"): Decimal("12"),
}


# -- the ledger ----------------------------------------------------------------------


def ledger(sb):
    """{"rounding": rule, "events": {subscription id: [event dicts]}} of this sandbox."""
    with sb.world.lock:
        return sb.world.service_state.setdefault(
            _KEY, {"rounding": "reconciliation_file", "events": {}}
        )


def set_rounding(sb, rule):
    if rule not in ROUNDING_RULES:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDING_RULES)}, not {rule!r}")
    ledger(sb)["rounding"] = rule


def record(sb, subscription_id, kind, when, **values):
    """Append a billing event of a subscription (kind: purchase, quantity, cancel)."""
    events = ledger(sb)["events"]
    with sb.world.lock:
        events.setdefault(subscription_id, []).append({"kind": kind, "at": when, **values})


def _snapshot(sb, tenant_id):
    tenant = sb.world.tenants.get((tenant_id or "").lower())
    if tenant is None:
        return {}
    return {sub.id: (sub.quantity, sub.status) for sub in tenant.subscriptions}


def observed(handler):
    """Wrap a route that may change a tenant's subscriptions: the ledger records what
    changed (a new subscription, a quantity, a cancellation) at the sandbox's time."""

    @functools.wraps(handler)
    def wrapped(sb, request, **values):
        tenant_id = values.get("customer_id") or values.get("tenant_id")
        with sb.world.lock:
            before = _snapshot(sb, tenant_id)
            response = handler(sb, request, **values)
            if response.status_code < 400:
                _record_differences(sb, tenant_id, before)
        return response

    return wrapped


def _record_differences(sb, tenant_id, before):
    now = sb.clock.now()
    tenant = sb.world.tenants[tenant_id.lower()]
    for sub in tenant.subscriptions:
        if sub.id not in before:
            start = datetime.fromisoformat(sub.effectiveStartDate)
            record(sb, sub.id, "purchase", start, quantity=sub.quantity)
            continue
        quantity, status = before[sub.id]
        if sub.quantity != quantity:
            record(sb, sub.id, "quantity", now, old=quantity, new=sub.quantity)
        if sub.status == "deleted" and status != "deleted":
            record(sb, sub.id, "cancel", now)


# -- the rule ----------------------------------------------------------------------------


def _on_day(year, month, day):
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def cycle_of(anchor, billing_cycle, day):
    """(start, end, divisor days) of the charge cycle holding ``day``."""
    if billing_cycle == "annual":
        start = _on_day(day.year, anchor.month, anchor.day)
        if start > day:
            start = _on_day(day.year - 1, anchor.month, anchor.day)
        end = _on_day(start.year + 1, anchor.month, anchor.day) - timedelta(days=1)
        # "365, or 366 in a leap year": a year holding a 29 February counts 366, also
        # the short one from 29 Feb 2024 to 27 Feb 2025
        leap = any(
            calendar.isleap(y) and start <= date(y, 2, 29) <= end
            for y in range(start.year, end.year + 1)
        )
        return start, end, max((end - start).days + 1, 366 if leap else 365)
    start = _on_day(day.year, day.month, anchor.day)
    if start > day:
        previous = date(day.year, day.month, 1) - timedelta(days=1)
        start = _on_day(previous.year, previous.month, anchor.day)
    following = date(start.year, start.month, 28) + timedelta(days=4)
    end = _on_day(following.year, following.month, anchor.day) - timedelta(days=1)
    return start, end, calendar.monthrange(start.year, start.month)[1]


def price_line(rule, unit_price, quantity, days, divisor):
    """(effective unit price, subtotal), both unsigned, for ``days`` of ``divisor``."""
    with localcontext() as ctx:
        ctx.prec = 50
        share = unit_price * days / divisor
        if rule == "reconciliation_file":
            effective = share.quantize(CENT, ROUND_DOWN)
            return effective, effective * quantity
        exact = unit_price * quantity * days / divisor
        mode = ROUND_DOWN if rule == "truncate_line" else ROUND_HALF_UP
        return share.quantize(CENT, ROUND_HALF_UP), exact.quantize(CENT, mode)


def unit_price(sub, market):
    sku = catalogue()[sub.skuId]
    plan = (sub.termDuration, "annual" if sub.billingCycle == "annual" else "monthly")
    monthly = pricing.market_price(sku.list_price_usd, market)
    return (monthly * _PLAN_FACTOR.get(plan, Decimal("1.20"))).quantize(CENT, ROUND_HALF_UP)


def _events(sb, sub):
    """The subscription's billing events in time order, with the term renewals."""
    events = [dict(event) for event in ledger(sb)["events"].get(sub.id, [])]
    start = datetime.fromisoformat(sub.effectiveStartDate)
    if not any(event["kind"] == "purchase" for event in events):
        first_old = next((e["old"] for e in events if e["kind"] == "quantity"), sub.quantity)
        # a generated subscription in a later term: its term started with a renewal
        created = datetime.fromisoformat(sub.creationDate or sub.effectiveStartDate)
        kind = "renewal" if created.date() < start.date() else "purchase"
        events.append({"kind": kind, "at": start, "quantity": first_old})
    months = TERM_MONTHS.get(sub.termDuration, 12)
    cancelled = next((e["at"] for e in events if e["kind"] == "cancel"), None)
    now = sb.clock.now()
    # each charge cycle opening after the purchase: a renewal at a term's end, otherwise
    # (a term longer than its billing cycle) the cycle's charge
    step = 12 if sub.billingCycle == "annual" else 1
    count, opening = 1, add_months(start, step)
    while opening <= now and (cancelled is None or opening < cancelled):
        kind = "renewal" if (count * step) % months == 0 else "cycle"
        events.append({"kind": kind, "at": opening})
        count += 1
        opening = add_months(start, step * count)
    return sorted(events, key=lambda event: event["at"])


def subscription_lines(sb, sub, rule, price):
    """Every line the subscription was billed, oldest first: dicts of the rule's values."""
    anchor = datetime.fromisoformat(sub.effectiveStartDate).date()
    cycle = "annual" if sub.billingCycle == "annual" else "monthly"
    lines, term_lines, quantity, term_start = [], [], 0, None

    def add(charge_type, at, qty, start, end, days, divisor, sign):
        effective, subtotal = price_line(rule, price, qty, days, divisor)
        line = {
            "chargeType": charge_type, "at": at, "quantity": qty, "unitPrice": price,
            "effectiveUnitPrice": sign * effective, "subtotal": sign * subtotal,
            "chargeStartDate": start, "chargeEndDate": end,
        }  # fmt: skip
        lines.append(line)
        term_lines.append(line)

    for event in _events(sb, sub):
        at, day = event["at"], event["at"].date()
        start, end, divisor = cycle_of(anchor, cycle, day)
        days = (end - day).days + 1
        if event["kind"] in ("purchase", "renewal"):
            term_lines, term_start = [], at
            quantity = event.get("quantity", quantity)
            kind = "new" if event["kind"] == "purchase" else "renew"
            if day == start:
                add(kind, at, quantity, day, end, 1, 1, 1)
            else:
                add(kind, at, quantity, day, end, days, divisor, 1)
        elif event["kind"] == "cycle":
            if quantity:
                add("cycleCharge", at, quantity, day, end, 1, 1, 1)
        elif event["kind"] == "quantity":
            charge_type = "addQuantity" if event["new"] > event["old"] else "removeQuantity"
            add(charge_type, at, event["old"], day, end, days, divisor, -1)
            add(charge_type, at, event["new"], day, end, days, divisor, 1)
            quantity = event["new"]
        elif event["kind"] == "cancel":
            elapsed = at - term_start
            if elapsed <= timedelta(hours=24):
                for line in list(term_lines):
                    lines.append(
                        dict(line, chargeType="cancelImmediate", at=at,
                             effectiveUnitPrice=-line["effectiveUnitPrice"],
                             subtotal=-line["subtotal"])
                    )  # fmt: skip
            elif elapsed <= timedelta(hours=168):
                add("cancelImmediate", at, quantity, day, end, days, divisor, -1)
    return lines


# -- the endpoint --------------------------------------------------------------------------


def _period_bounds(period, now):
    first = datetime(now.year, now.month, 1, tzinfo=UTC)
    if period == "current":
        return first, add_months(first, 1)
    if period == "previous":
        return add_months(first, -1), first
    fail(400, 400008, f"period must be 'current' or 'previous', not '{period}'.")


def _money(value):
    return int(value) if value == value.to_integral_value() else float(value)


# the date shapes of Partner Center's examples and files, one per item in turn
_DAY_SHAPES = ("{:%Y-%m-%d}T00:00:00Z", "{:%Y-%m-%d}T00:00:00.0000000Z", "{:%Y-%m-%d}")
# fields Microsoft leaves empty for licence-based lines, and sometimes out
_EMPTY_FIELDS = ("invoiceNumber", "mpnId", "resellerMpnId", "availabilityId",
                 "priceAdjustmentDescription", "promotionId")  # fmt: skip


def _term_and_cycle(sub):
    term = {"P1M": "One-Month", "P1Y": "One-Year", "P3Y": "Three-Years"}
    cycle = "Annual" if sub.billingCycle == "annual" else "Monthly"
    return f"{term.get(sub.termDuration, sub.termDuration)} commitment for {cycle} billing"


def line_item(sb, tenant, sub, line, currency, position=0):
    """One reconciliation line item; ``position`` (its place in the answer) picks its
    date shape and whether the empty fields are sent."""
    sku = catalogue()[sub.skuId]
    product_id, sku_id = sub.offerId.split(":")[:2]
    at = line["at"]
    day = _DAY_SHAPES[position % len(_DAY_SHAPES)]
    item = {
        "partnerId": sb.world.partner_tenant_id,
        "customerId": tenant.id,
        "customerName": tenant.company_name,
        "customerDomainName": f"{tenant.id}.onmicrosoft.com",
        "customerCountry": tenant.country,
        "invoiceNumber": "",
        "mpnId": "",
        "resellerMpnId": "",
        "orderId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"order:{sub.id}")),
        "orderDate": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
        "productId": product_id,
        "skuId": sku_id,
        "availabilityId": "",
        "productName": sku.product_name,
        "skuName": sku.product_name,
        "chargeType": line["chargeType"],
        "unitPrice": _money(line["unitPrice"]),
        "effectiveUnitPrice": _money(line["effectiveUnitPrice"]),
        "unitType": "Licenses",
        "quantity": line["quantity"],
        "billableQuantity": line["quantity"],
        "subtotal": _money(line["subtotal"]),
        "taxTotal": 0.0,
        "totalForCustomer": _money(line["subtotal"]),
        "currency": currency,
        "pricingCurrency": currency,
        "pcToBCExchangeRate": 1,
        "publisherName": "Microsoft Corporation",
        "subscriptionDescription": sub.friendlyName,
        "subscriptionId": sub.id,
        "subscriptionStartDate": sub.effectiveStartDate[:10] + "T00:00:00Z",
        "subscriptionEndDate": sub.commitmentEndDate[:10] + "T00:00:00Z",
        "chargeStartDate": day.format(line["chargeStartDate"]),
        "chargeEndDate": day.format(line["chargeEndDate"]),
        "termAndBillingCycle": _term_and_cycle(sub),
        "priceAdjustmentDescription": "",
        "promotionId": sub.promotionId or "",
        "productCategory": "OnlineServicesNCE",
        "invoiceLineItemType": "billinglineitems",
        "billingProvider": "one_time",
        "attributes": {"objectType": "OneTimeInvoiceLineItem"},
    }
    if position % 2:
        for name in _EMPTY_FIELDS:
            if not item[name]:
                del item[name]
    return item


def period_line_items(sb, currency, period="current"):
    """Every unbilled line item of the period in ``currency`` (upper case), all customers."""
    start, end = _period_bounds(period, sb.clock.now())
    return window_line_items(sb, currency, start, end)


def window_line_items(sb, currency, start, end):
    """Every line item in ``currency`` of a change made from ``start`` to before ``end``
    (aware datetimes), all customers: a period's unbilled items, or a billed invoice's
    (``invoices.py``)."""
    rule = ledger(sb)["rounding"]
    items = []
    with sb.world.lock:
        tenants = [t for t in sb.world.tenants.values() if t.reseller]
        for tenant in tenants:
            market = tenant.country if tenant.country in pricing.MARKETS else "US"
            if pricing.MARKETS[market][0] != currency:
                continue
            billed = ledger(sb)["events"]
            for sub in tenant.subscriptions:
                if sub.billingCycle not in ("monthly", "annual") or sub.skuId not in catalogue():
                    continue
                if sub.status != "active" and sub.id not in billed:
                    continue  # generated suspended or ended: nothing billed any more
                price = unit_price(sub, market)
                for line in subscription_lines(sb, sub, rule, price):
                    if start <= line["at"] < end:
                        items.append(line_item(sb, tenant, sub, line, currency, len(items)))
    return items


@endpoint
def unbilled_line_items(sb, request):
    args = {key.lower(): value for key, value in request.args.items()}
    if args.get("provider", "").lower() != "onetime":
        fail(400, 400008, "provider must be 'onetime' for unbilled reconciliation line items.")
    if args.get("invoicelineitemtype", "").lower() != "billinglineitems":
        fail(400, 400008, "invoicelineitemtype must be 'billinglineitems'.")
    if not args.get("currencycode"):
        fail(400, 400008, "currencycode is required.")
    query = {
        "provider": "onetime",
        "invoicelineitemtype": "billinglineitems",
        "currencycode": args["currencycode"],
        "period": args.get("period", "current"),
    }
    if args.get("seekoperation", "").lower() == "next":
        token = request.headers.get("MS-ContinuationToken")
        if not token:
            fail(400, 800002, "seekOperation=Next requires the MS-ContinuationToken header.")
        offset, size, query = _decode_token(token, "unbilledlineitems")
    else:
        size = args.get("size", str(MAX_LINE_ITEMS_PAGE))
        if not size.isdigit() or not 1 <= int(size) <= MAX_LINE_ITEMS_PAGE:
            fail(400, 800002, f"size must be a number from 1 to {MAX_LINE_ITEMS_PAGE}.")
        offset, size = 0, int(size)
    items = period_line_items(sb, query["currencycode"].upper(), query["period"].lower())
    path = "/v1/invoices/unbilled/lineitems"
    body = _paged(items, "unbilledlineitems", path, offset, size, query)
    body.pop("continuationToken", None)  # this call's pages carry it in links.next only
    return errors.json_response(body)


def control_billing(sb, request):
    """``GET``/``PUT /_control/billing``: the ledger's rounding rule and events; with
    ``?tenant=<id>``, also the unit price each of its subscriptions is billed at."""
    if request.method == "PUT":
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
            set_rounding(sb, body.get("rounding"))
        except (ValueError, AttributeError) as exc:
            return errors.json_response({"error": str(exc)}, 400)
    state = ledger(sb)
    events = {
        sid: [dict(e, at=e["at"].isoformat()) for e in items]
        for sid, items in state["events"].items()
    }
    answer = {"rounding": state["rounding"], "events": events}
    tenant = sb.world.tenants.get(request.args.get("tenant", "").lower())
    if tenant is not None:
        market = tenant.country if tenant.country in pricing.MARKETS else "US"
        answer["prices"] = {
            sub.id: str(unit_price(sub, market))
            for sub in tenant.subscriptions
            if sub.skuId in catalogue()
        }
    return errors.json_response(answer)


# -- registration: the line items route, and the routes whose changes are billed ------


def _observe(rules_map, handlers):
    """Route ``handlers`` of ``rules_map`` through :func:`observed` (werkzeug indexes
    rules by endpoint, so the index follows)."""
    wrappers = {handler: observed(handler) for handler in handlers}
    for rule in rules_map.iter_rules():
        if rule.endpoint in wrappers:
            rule.endpoint = wrappers[rule.endpoint]
    index = rules_map._rules_by_endpoint
    for handler, wrapper in wrappers.items():
        index[wrapper] = index.pop(handler)


def register():
    """Add the ledger to the server's routes: Partner Center serves the unbilled line
    items, the control API ``/billing``, and the subscription changes made through
    Partner Center's PATCH and the control API are billed. Called by ``app.py``, where
    the server's routes come together; a second call changes nothing."""
    if "/v1/invoices/unbilled/lineitems" in {rule.rule for rule in url_map.iter_rules()}:
        return
    url_map.add(
        Rule("/v1/invoices/unbilled/lineitems", endpoint=unbilled_line_items, methods=["GET"])
    )
    _observe(url_map, {patch_subscription})
    _observe(control.url_map, {control.create_subscription, control.subscription})
    control.url_map.add(Rule("/billing", endpoint=control_billing, methods=["GET", "PUT"]))
