"""Partner Center REST (``https://api.partnercenter.microsoft.com``) over the sandbox World.

Paths here are relative to ``/partnercenter``.  Every call needs a Partner Center token
issued in the partner tenant.  ``MS-RequestId`` and ``MS-CorrelationId`` are echoed
back (generated when missing); a PATCH repeated with the same ``MS-RequestId`` returns
the first answer without applying the change twice.

Customers (only tenants with a reseller relationship) and audit records are paged like
Partner Center: ``size`` (at most 500), then ``links.next`` with ``seekOperation=Next``
and the ``MS-ContinuationToken`` header.  A customer the partner only has GDAP with
answers 403 (code 20002); an unknown id answers 404.

Subscription changes follow new-commerce rules: seats added stay refundable for 168
hours; a decrease must fit in the refundable seats of windows still open (newest used
first), else 400 (code 800002); a subscription with scheduled next-term instructions
answers 409 (code 800014).  Each change writes an audit record and, when a webhook is
registered for ``subscription-updated``, delivers that event in the background.
"""

import base64
import binascii
import functools
import hashlib
import json
import threading
import uuid
import weakref
from datetime import UTC, datetime

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from . import errors, webhooks
from .faults import BEFORE_KEY
from .generate import REFUND_WINDOW, catalogue, iso
from .world import AuditRecord

MAX_PAGE_SIZE = 500
EDITABLE_STATUSES = ("active", "suspended")

_replays = weakref.WeakKeyDictionary()  # sb -> {(MS-RequestId, path): (status, body)}
_replays_lock = threading.Lock()


# -- plumbing ------------------------------------------------------------------


def fail(status, code, description):
    raise errors.ApiError(errors.partner_center_error(status, code, description))


def _echo_headers(request):
    return {
        "MS-RequestId": request.headers.get("MS-RequestId") or str(uuid.uuid4()),
        "MS-CorrelationId": request.headers.get("MS-CorrelationId") or str(uuid.uuid4()),
    }


def endpoint(handler):
    """Authenticate, run the handler, echo the request/correlation ids on any answer."""

    @functools.wraps(handler)
    def wrapped(sb, request, **values):
        headers = _echo_headers(request)
        try:
            sb.require_token(request, "partnercenter")
            response = handler(sb, request, **values)
        except errors.ApiError as exc:
            exc.response.headers.update(headers)
            raise
        response.headers.update(headers)
        return response

    return wrapped


def _json(payload, status=200):
    return errors.json_response(payload, status)


def _link(uri, headers=None, method="GET"):
    return {"uri": uri, "method": method, "headers": headers or []}


def _parse_time(value, name):
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        fail(400, 800002, f"The value '{value}' of '{name}' is not a valid date.")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _request_json(request):
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        fail(400, 800002, "The request body must be a JSON object.")
    return body


# -- paging --------------------------------------------------------------------


def _encode_token(kind, offset, size, query):
    raw = json.dumps({"k": kind, "o": offset, "s": size, "q": query}).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_token(token, kind):
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        if state["k"] == kind:
            return int(state["o"]), int(state["s"]), dict(state["q"])
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        pass
    fail(400, 800002, "The continuation token is not valid for this request.")


def _page_request(request, kind, query):
    """(offset, size, query) for a first page or a seekOperation=Next request."""
    if request.args.get("seekOperation", "").lower() == "next":
        token = request.headers.get("MS-ContinuationToken")
        if not token:
            fail(400, 800002, "seekOperation=Next requires the MS-ContinuationToken header.")
        return _decode_token(token, kind)
    size = request.args.get("size", str(MAX_PAGE_SIZE))
    if not size.isdigit() or not 1 <= int(size) <= MAX_PAGE_SIZE:
        fail(400, 800002, f"size must be a number from 1 to {MAX_PAGE_SIZE}.")
    return 0, int(size), query


def _paged(items, kind, path, offset, size, query):
    chunk = items[offset : offset + size]
    query_text = "".join(f"&{key}={value}" for key, value in query.items())
    links = {"self": _link(f"{path}?size={size}{query_text}")}
    body = {"totalCount": len(chunk), "items": chunk, "links": links}
    if offset + size < len(items):
        token = _encode_token(kind, offset + size, size, query)
        # Partner Center's examples write next links with and without the version:
        # every other page leaves "/v1" out, so clients must handle both
        following = path.removeprefix("/v1") if (offset // size) % 2 else path
        links["next"] = _link(
            f"{following}?size={size}{query_text}&seekOperation=Next",
            [{"key": "MS-ContinuationToken", "value": token}],
        )
        body["continuationToken"] = token
    body["attributes"] = {"objectType": "Collection"}
    return body


def _collection(items):
    return {"totalCount": len(items), "items": items, "attributes": {"objectType": "Collection"}}


# -- customers -----------------------------------------------------------------


def customer_json(tenant):
    base = f"/v1/customers/{tenant.id}"
    return {
        "id": tenant.id,
        "companyProfile": {
            "tenantId": tenant.id,
            "domain": tenant.default_domain,
            "companyName": tenant.company_name,
            "links": {"self": _link(f"{base}/profiles/company")},
            "attributes": {"objectType": "CustomerCompanyProfile"},
        },
        "relationshipToPartner": "reseller",
        "links": {"self": _link(base)},
        "attributes": {"objectType": "Customer"},
    }


def _customer(sb, customer_id):
    tenant = sb.world.tenants.get(customer_id.lower())
    if tenant is None:
        fail(404, 60003, f"Customer '{customer_id}' was not found.")
    if not tenant.reseller:
        fail(403, 20002, "No relationship between caller and account.")
    return tenant


@endpoint
def list_customers(sb, request):
    offset, size, query = _page_request(request, "customers", {})
    customers = [customer_json(t) for t in sb.world.tenants.values() if t.reseller]
    return _json(_paged(customers, "customers", "/v1/customers", offset, size, query))


@endpoint
def get_customer(sb, request, customer_id):
    return _json(customer_json(_customer(sb, customer_id)))


# -- subscriptions -------------------------------------------------------------


def open_windows(sub, now):
    """The subscription's refundable windows that have not expired at `now`."""
    return [
        window
        for window in sub.refundable
        if datetime.fromisoformat(window["allowedUntilDateTime"]) > now
    ]


def subscription_json(sb, customer_id, sub):
    windows = open_windows(sub, sb.clock.now())
    product_id, sku_id = sub.offerId.split(":")[:2]
    base = f"/v1/customers/{customer_id}/subscriptions/{sub.id}"
    country = customer_country(sb, customer_id)
    return {
        "id": sub.id,
        "offerId": sub.offerId,
        "offerName": sub.offerName,
        "friendlyName": sub.friendlyName,
        "productType": {"id": sub.productType["id"], "displayName": sub.productType["id"]},
        "quantity": sub.quantity,
        "unitType": sub.unitType,
        "hasPurchasableAddons": False,
        "creationDate": sub.creationDate,
        "effectiveStartDate": sub.effectiveStartDate,
        "commitmentEndDate": sub.commitmentEndDate,
        "status": sub.status,
        "autoRenewEnabled": sub.autoRenewEnabled,
        "isTrial": False,
        "billingType": "none" if sub.billingCycle == "none" else "license",
        "billingCycle": sub.billingCycle,
        "termDuration": sub.termDuration,
        "renewalTermDuration": sub.termDuration,
        "refundOptions": [],
        "isMicrosoftProduct": True,
        "publisherName": "Microsoft Corporation",
        "contractType": "subscription",
        "orderId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"order:{sub.id}")),
        "promotionId": sub.promotionId,
        "refundableQuantity": {
            "totalQuantity": sum(window["quantity"] for window in windows),
            "details": [dict(window) for window in windows],
        },
        "scheduledNextTermInstructions": sub.scheduledNextTermInstructions,
        "cancellationAllowedUntilDate": max(
            (w["allowedUntilDateTime"] for w in windows), default=None
        ),
        "entitlementId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"entitlement:{sub.id}")),
        "partnerId": "",  # an indirect reseller's id; empty when the partner bills directly
        "attentionNeeded": False,
        "actionTaken": False,
        "links": {
            # Partner Center's documented forms: the offer and self links without the
            # version, product, sku and availability links with it
            "offer": _link(f"/offers/{sub.offerId}?country={country}"),
            "product": _link(f"/v1/products/{product_id}?country={country}"),
            "sku": _link(f"/v1/products/{product_id}/skus/{sku_id}?country={country}"),
            "availability": _link(
                f"/v1/products/{product_id}/skus/{sku_id}/availabilities/"
                f"{_availability_id(product_id, sku_id)}?country={country}"
            ),
            "self": _link(base.removeprefix("/v1")),
        },
        "actions": ["edit", "cancel"] if windows else ["edit"],
        "attributes": {"etag": sub.etag, "objectType": "Subscription"},
    }


def _availability_id(product_id, sku_id):
    """A stable availability id (Partner Center's are 12 characters, e.g. CFQ7TTC0LF8S)."""
    digest = hashlib.sha256(f"{product_id}:{sku_id}".encode()).hexdigest().upper()
    return f"CFQ7TTC0{digest[:4]}"


def customer_country(sb, customer_id):
    return sb.world.tenants[customer_id].country


def _subscription(tenant, subscription_id):
    for sub in tenant.subscriptions:
        if sub.id.lower() == subscription_id.lower():  # GUIDs: any case
            return sub
    fail(404, 20003, "This subscription was not found.")


@endpoint
def list_subscriptions(sb, request, customer_id):
    tenant = _customer(sb, customer_id)
    items = [subscription_json(sb, tenant.id, sub) for sub in tenant.subscriptions]
    # one page unless the client asks for smaller ones (size): then links.next with a
    # continuation token, as customers
    offset, size, query = _page_request(request, "subscriptions", {})
    path = f"/v1/customers/{tenant.id}/subscriptions"
    return _json(_paged(items, "subscriptions", path, offset, size, query))


@endpoint
def get_subscription(sb, request, customer_id, subscription_id):
    tenant = _customer(sb, customer_id)
    return _json(subscription_json(sb, tenant.id, _subscription(tenant, subscription_id)))


@endpoint
def patch_subscription(sb, request, customer_id, subscription_id):
    key = (request.headers.get("MS-RequestId"), request.path)
    with _replays_lock:
        replay = _replays.setdefault(sb, {}).get(key) if key[0] else None
    if replay is not None:
        return Response(replay[1], status=replay[0], content_type="application/json")
    try:
        response = _apply_patch(sb, request, customer_id, subscription_id)
    except errors.ApiError as exc:
        response = exc.response
    if key[0]:
        with _replays_lock:
            _replays[sb][key] = (response.status_code, response.get_data())
    if response.status_code >= 400:
        raise errors.ApiError(response)
    return response


def _apply_patch(sb, request, customer_id, subscription_id):
    tenant = _customer(sb, customer_id)
    body = _request_json(request)
    with sb.world.lock:
        sub = _subscription(tenant, subscription_id)
        # as it was: a fault answering 202 ("accepted") shows it unchanged
        request.environ[BEFORE_KEY] = subscription_json(sb, tenant.id, sub)
        changes = _validate_patch(sub, body)
        if changes:
            now = sb.clock.now()
            _change(sub, changes, now)
            record = _audit(sb, tenant, sub, now)
            resource_uri = (
                f"{sb.urls['partner_center']}/v1/customers/{tenant.id}/subscriptions/{sub.id}"
            )
            audit_uri = f"{sb.urls['partner_center']}/v1/auditrecords?startDate={record}"
            webhooks.deliver_later(sb, "subscription-updated", resource_uri, tenant.id, audit_uri)
        return _json(subscription_json(sb, tenant.id, sub))


def _validate_patch(sub, body):
    """{field: new value} of the requested changes, or raise Partner Center's error."""
    changes = {}
    for field_name in ("quantity", "status", "autoRenewEnabled", "friendlyName"):
        if field_name in body and body[field_name] != getattr(sub, field_name):
            changes[field_name] = body[field_name]
    if not changes:
        return changes
    etag = (body.get("attributes") or {}).get("etag")
    if etag is not None and etag != sub.etag:
        fail(400, 2055, "ETag is no longer valid.")
    if sub.status == "deleted":
        fail(400, 2011, "Cannot update a subscription with deleted status.")
    if sub.scheduledNextTermInstructions:
        fail(409, 800014, "A pending change is requested for this subscription.")
    if "status" in changes and changes["status"] not in EDITABLE_STATUSES:
        fail(
            400,
            800040,
            f"Resource status cannot be changed from {sub.status} to {changes['status']}.",
        )
    if "autoRenewEnabled" in changes and not isinstance(changes["autoRenewEnabled"], bool):
        fail(400, 800002, "autoRenewEnabled must be true or false.")
    if "quantity" in changes:
        quantity = changes["quantity"]
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            fail(400, 2002, "Subscription quantity not within the minimum and maximum allowed.")
        if sub.status == "suspended" or changes.get("status") == "suspended":
            fail(
                400,
                2001,
                "Cannot increase or decrease subscription quantity while "
                "subscription is suspended.",
            )
    return changes


def _change(sub, changes, now):
    quantity = changes.pop("quantity", None)
    if quantity is not None:
        if quantity > sub.quantity:
            sub.refundable.append(
                {
                    "quantity": quantity - sub.quantity,
                    "allowedUntilDateTime": iso(now + REFUND_WINDOW),
                }
            )
        else:
            _consume_refundable(sub, sub.quantity - quantity, now)
        sub.quantity = quantity
    for field_name, value in changes.items():
        setattr(sub, field_name, value)
    sub.etag = str(int(sub.etag) + 1) if sub.etag.isdigit() else "1"


def _consume_refundable(sub, decrease, now):
    """Take `decrease` seats out of the open windows, newest first, or refuse."""
    windows = sorted(open_windows(sub, now), key=lambda w: w["allowedUntilDateTime"])
    refundable = sum(window["quantity"] for window in windows)
    if decrease > refundable:
        fail(
            400,
            800002,
            f"Quantity decrease of {decrease} is not allowed: only {refundable} license(s) are "
            "still inside the cancellation window. Seats can be reduced only within 168 hours "
            "of being added; turn off auto-renew or lower the renewal quantity instead.",
        )
    for window in reversed(windows):
        taken = min(window["quantity"], decrease)
        window["quantity"] -= taken
        decrease -= taken
    sub.refundable = [w for w in sub.refundable if w["quantity"] > 0]


def _audit(sb, tenant, sub, now):
    value = {
        "id": sub.id,
        "offerId": sub.offerId,
        "quantity": sub.quantity,
        "status": sub.status,
        "autoRenewEnabled": sub.autoRenewEnabled,
    }
    sb.world.audit_records.append(
        AuditRecord(
            partnerId=sb.world.partner_tenant_id,
            customerId=tenant.id,
            customerName=tenant.company_name,
            userPrincipalName=sb.world.partner_admin_upn,
            resourceType="Subscription",
            resourceNewValue=json.dumps(value),
            operationType="UpdateSubscription",
            operationDate=iso(now),
        )
    )
    return iso(now)


# -- subscribed SKUs -------------------------------------------------------------


@endpoint
def subscribed_skus(sb, request, customer_id):
    tenant = _customer(sb, customer_id)
    tenant = sb.world.tenant(tenant.id)  # loads users
    consumed = {}
    for user in tenant.users.values():
        for licence in user.assignedLicenses:
            consumed[licence["skuId"]] = consumed.get(licence["skuId"], 0) + 1
    units = {}
    for sub in tenant.subscriptions:
        if sub.status in ("active", "suspended"):
            active, suspended = units.setdefault(sub.skuId, [0, 0])
            units[sub.skuId] = [
                active + (sub.quantity if sub.status == "active" else 0),
                suspended + (sub.quantity if sub.status == "suspended" else 0),
            ]
    skus = catalogue()
    items = []
    for sku_id, (active, suspended) in units.items():
        sku = skus[sku_id]
        used = consumed.get(sku_id, 0)
        items.append(
            {
                "availableUnits": max(active - used, 0),
                "activeUnits": active,
                "consumedUnits": used,
                "suspendedUnits": suspended,
                "totalUnits": active + suspended,
                "warningUnits": 0,
                "productSku": {
                    "id": sku_id,
                    "name": sku.product_name,
                    "skuPartNumber": sku.sku_part_number,
                    "targetType": "User",
                    "licenseGroupId": "group1",
                },
                "servicePlans": [],
                "capabilityStatus": "Enabled" if active else "Suspended",
                "attributes": {"objectType": "SubscribedSku"},
            }
        )
    return _json(_collection(items))


# -- audit records ------------------------------------------------------------------


def audit_json(record):
    return {
        "partnerId": record.partnerId,
        "customerId": record.customerId,
        "customerName": record.customerName,
        "userPrincipalName": record.userPrincipalName,
        "resourceType": record.resourceType,
        "resourceNewValue": record.resourceNewValue,
        "operationType": record.operationType,
        "operationDate": record.operationDate,
        "operationStatus": record.operationStatus,
        "customizedData": [
            {"key": "SubscriptionId", "value": json.loads(record.resourceNewValue).get("id")}
        ],
        "attributes": {"objectType": "AuditRecord"},
    }


@endpoint
def audit_records(sb, request):
    query = {k: request.args[k] for k in ("startDate", "endDate") if k in request.args}
    offset, size, query = _page_request(request, "auditrecords", query)
    if "startDate" not in query:
        fail(400, 800002, "startDate is required.")
    start = _parse_time(query["startDate"], "startDate")
    end = _parse_time(query["endDate"], "endDate") if "endDate" in query else None
    with sb.world.lock:
        records = list(sb.world.audit_records)
    items = [
        audit_json(record)
        for record in records
        if start <= datetime.fromisoformat(record.operationDate)
        and (end is None or datetime.fromisoformat(record.operationDate) < end)
    ]
    return _json(_paged(items, "auditrecords", "/v1/auditrecords", offset, size, query))


# -- webhook registration ---------------------------------------------------------------


def _registration_json(sb):
    registration = sb.world.webhook
    return {
        "SubscriberId": sb.world.partner_tenant_id,
        "WebhookUrl": registration["WebhookUrl"],
        "WebhookEvents": list(registration["WebhookEvents"]),
    }


def _registration_from(request):
    body = _request_json(request)
    lowered = {key.lower(): value for key, value in body.items()}
    url, events = lowered.get("webhookurl"), lowered.get("webhookevents")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        fail(400, 800002, "WebhookUrl must be an absolute http or https URL.")
    if not isinstance(events, list) or not events:
        fail(400, 800002, "WebhookEvents must be a non-empty list of event names.")
    unknown = [event for event in events if event not in webhooks.EVENT_NAMES]
    if unknown:
        fail(400, 800002, f"Unknown webhook event(s): {', '.join(map(str, unknown))}.")
    return {"WebhookUrl": url, "WebhookEvents": list(dict.fromkeys(events))}


def _require_registration(sb):
    if sb.world.webhook is None:
        fail(404, 1000, "No webhook registration was found for this partner.")


@endpoint
def webhook_events(sb, request):
    return _json(list(webhooks.EVENT_NAMES))


@endpoint
def get_registration(sb, request):
    _require_registration(sb)
    return _json(_registration_json(sb))


@endpoint
def create_registration(sb, request):
    registration = _registration_from(request)
    with sb.world.lock:
        if sb.world.webhook is not None:
            fail(409, 409, "A registration already exists; use PUT to update it.")
        sb.world.webhook = registration
    return _json(_registration_json(sb))


@endpoint
def update_registration(sb, request):
    registration = _registration_from(request)
    with sb.world.lock:
        sb.world.webhook = registration
    return _json(_registration_json(sb))


@endpoint
def delete_registration(sb, request):
    _require_registration(sb)
    with sb.world.lock:
        sb.world.webhook = None
    return Response(status=204)


@endpoint
def create_validation_event(sb, request):
    _require_registration(sb)
    correlation_id = str(uuid.uuid4())
    stamp = iso(sb.clock.now())
    record = {
        "correlationId": correlation_id,
        "partnerId": sb.world.partner_tenant_id,
        "status": "pending",
        "events": [
            {
                "correlationId": correlation_id,
                "eventName": "test-created",
                "status": "pending",
                "statusCode": None,
                "attempts": 0,
                "createdTimestamp": stamp,
                "lastModifiedTimestamp": stamp,
            }
        ],
    }
    state = webhooks.state(sb)
    with state.lock:
        state.validation_events[correlation_id] = record

    def finished(result):
        status = "completed" if result["delivered"] else "failed"
        with state.lock:
            record["status"] = status
            record["events"][0].update(
                status=status,
                statusCode=result["status"],
                attempts=result["attempts"],
                lastModifiedTimestamp=iso(sb.clock.now()),
            )

    resource_uri = (
        f"{sb.urls['partner_center']}/webhooks/v1/registration/validationEvents/{correlation_id}"
    )
    webhooks.deliver_later(sb, "test-created", resource_uri, done=finished)
    return _json({"correlationId": correlation_id})


@endpoint
def get_validation_event(sb, request, correlation_id):
    state = webhooks.state(sb)
    with state.lock:
        record = state.validation_events.get(correlation_id)
        if record is None:
            fail(404, 1000, f"No validation event with correlation id '{correlation_id}'.")
        return _json(json.loads(json.dumps(record)))


url_map = Map(
    [
        Rule("/v1/customers", endpoint=list_customers, methods=["GET"]),
        Rule("/v1/customers/<customer_id>", endpoint=get_customer, methods=["GET"]),
        Rule(
            "/v1/customers/<customer_id>/subscriptions",
            endpoint=list_subscriptions,
            methods=["GET"],
        ),
        Rule(
            "/v1/customers/<customer_id>/subscriptions/<subscription_id>",
            endpoint=get_subscription,
            methods=["GET"],
        ),
        Rule(
            "/v1/customers/<customer_id>/subscriptions/<subscription_id>",
            endpoint=patch_subscription,
            methods=["PATCH"],
        ),
        Rule(
            "/v1/customers/<customer_id>/subscribedskus",
            endpoint=subscribed_skus,
            methods=["GET"],
        ),
        Rule("/v1/auditrecords", endpoint=audit_records, methods=["GET"]),
        Rule("/webhooks/v1/registration/events", endpoint=webhook_events, methods=["GET"]),
        Rule("/webhooks/v1/registration", endpoint=get_registration, methods=["GET"]),
        Rule("/webhooks/v1/registration", endpoint=create_registration, methods=["POST"]),
        Rule("/webhooks/v1/registration", endpoint=update_registration, methods=["PUT"]),
        Rule("/webhooks/v1/registration", endpoint=delete_registration, methods=["DELETE"]),
        Rule(
            "/webhooks/v1/registration/validationEvents",
            endpoint=create_validation_event,
            methods=["POST"],
        ),
        Rule(
            "/webhooks/v1/registration/validationEvents/<correlation_id>",
            endpoint=get_validation_event,
            methods=["GET"],
        ),
    ],
    strict_slashes=False,
)
