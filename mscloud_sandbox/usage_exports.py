"""Partner billing usage exports (Graph ``/reports/partners/billing``) and their blobs.

A partner asks Graph to export billed or unbilled Azure daily rated usage; Graph
answers 202 with the URL of an operation; polling it gives ``running`` first, then
``succeeded`` with a manifest (``resourceLocation``): a root directory, a SAS token and
the blob names.  Each blob, served under ``/blobs`` and only with the SAS token, is
gzip-compressed JSON lines, one usage record per line with Microsoft's attribute names.

The records are synthetic but deterministic: which customers have an Azure plan, their
meters and each day's quantity follow from the world's seed, the customer and the date,
so an export of the same period always holds the same lines.  Product, SKU and meter
identifiers are sandbox values in Microsoft's formats, not real catalogue entries.
"""

import base64
import dataclasses
import functools
import gzip
import hashlib
import hmac
import io
import json
import random
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from . import control, pricing
from .errors import json_response

LINES_PER_BLOB = 250
POLLS_WHILE_RUNNING = 1  # the first poll of an operation answers "running"
RETRY_AFTER_SECONDS = "1"
SAS_LIFETIME = timedelta(hours=12)
SAS_VERSION = "2021-08-06"
AZURE_SHARE = 0.4  # about this share of CSP customers has an Azure plan
PEC_PERCENT = 15  # partner earned credit for customers managed through GDAP

EXCHANGE_RATES = {
    "USD": 1.0,
    "EUR": 0.92,
    "GBP": 0.79,
    "AUD": 1.52,
    "CAD": 1.36,
    "NZD": 1.66,
}

AZURE_PLAN = {
    "ProductId": "DZH318Z0BPS6",
    "SkuId": "0001",
    "SubscriptionDescription": "Azure plan",
}


@dataclass(frozen=True)
class Meter:
    category: str
    subcategory: str
    name: str
    unit: str
    unit_price: float  # USD, list price
    product_id: str
    sku_id: str
    product_name: str
    sku_name: str
    provider: str  # ConsumedService
    resource_type: str  # provider/type of the ResourceURI
    daily: tuple  # (low, high) quantity per day


METERS = (
    Meter(
        "Virtual Machines",
        "Dv5/DSv5 Series",
        "D2s v5",
        "1 Hour",
        0.096,
        "DZH318Z0BQ4W",
        "00G1",
        "Virtual Machines Dv5 Series",
        "D2s v5",
        "Microsoft.Compute",
        "virtualMachines",
        (8.0, 24.0),
    ),
    Meter(
        "Storage",
        "Standard SSD Managed Disks",
        "E10 LRS Disk",
        "1/Month",
        9.6,
        "DZH318Z0BP88",
        "0011",
        "Standard SSD Managed Disks",
        "E10 LRS",
        "Microsoft.Compute",
        "disks",
        (0.032, 0.034),
    ),
    Meter(
        "Storage",
        "Tables",
        "LRS Data Stored",
        "1 GB/Month",
        0.045,
        "DZH318Z0BNVX",
        "003W",
        "Tables",
        "Standard LRS",
        "Microsoft.Storage",
        "storageAccounts",
        (1.0, 40.0),
    ),
    Meter(
        "Bandwidth",
        "Rtn Preference: MGN",
        "Standard Data Transfer Out",
        "1 GB",
        0.087,
        "DZH318Z0BNZ5",
        "006G",
        "Bandwidth",
        "Standard",
        "Microsoft.Network",
        "publicIPAddresses",
        (0.5, 12.0),
    ),
    Meter(
        "Azure App Service",
        "Basic Plan - Linux",
        "B1",
        "1 Hour",
        0.018,
        "DZH318Z0BQ0C",
        "0019",
        "Azure App Service Basic Plan - Linux",
        "B1",
        "Microsoft.Web",
        "serverfarms",
        (24.0, 24.0),
    ),
    Meter(
        "SQL Database",
        "Single Standard",
        "S0 DTUs",
        "1/Day",
        0.4839,
        "DZH318Z0BQPS",
        "0004",
        "SQL Database Single Standard",
        "S0",
        "Microsoft.Sql",
        "servers",
        (1.0, 1.0),
    ),
    Meter(
        "Log Analytics",
        "Analytics Logs",
        "Analytics Logs Data Ingestion",
        "1 GB",
        2.3,
        "DZH318Z0BQ7K",
        "000K",
        "Log Analytics",
        "Analytics Logs",
        "Microsoft.OperationalInsights",
        "workspaces",
        (0.1, 3.0),
    ),
)
REGIONS = {
    "GB": ("UK South", "uksouth"),
    "US": ("US East", "eastus"),
    "AU": ("AU East", "australiaeast"),
    "CA": ("CA Central", "canadacentral"),
    "NZ": ("AU East", "australiaeast"),
}

BASIC_ATTRIBUTES = (
    "PartnerId",
    "CustomerId",
    "CustomerName",
    "CustomerDomainName",
    "InvoiceNumber",
    "ProductId",
    "SkuId",
    "AvailabilityId",
    "SkuName",
    "ProductName",
    "SubscriptionId",
    "ChargeStartDate",
    "ChargeEndDate",
    "UsageDate",
    "MeterCategory",
    "MeterSubCategory",
    "MeterName",
    "MeterRegion",
    "Unit",
    "ResourceGroup",
    "ResourceURI",
    "ChargeType",
    "UnitPrice",
    "Quantity",
    "UnitType",
    "BillingPreTaxTotal",
    "BillingCurrency",
    "PricingPreTaxTotal",
    "PricingCurrency",
    "EffectiveUnitPrice",
    "EntitlementId",
    "EntitlementDescription",
    "PartnerEarnedCreditPercentage",
)


# -- state ------------------------------------------------------------------------


@dataclass
class Behaviour:
    """What the next exports do (the control API's ``/usage-exports``): how many polls
    answer ``running`` and the Retry-After they give, and the failure states Microsoft
    documents: a failed operation, a SAS token already expired, a blob cut short.
    ``copies``: each metered resource repeated this many times (a Microsoft-sized file
    for a benchmark); ``lines_per_blob``: records per blob."""

    running_polls: int = POLLS_WHILE_RUNNING
    retry_after: int = int(RETRY_AFTER_SECONDS)
    fail: str = ""  # the failed operation's message (empty: exports succeed)
    sas_expired: bool = False
    cut_blob: int | None = None  # index of the blob served cut short
    copies: int = 1
    lines_per_blob: int = LINES_PER_BLOB


@dataclass
class Export:
    """One export operation and, once it has run, its manifest and blobs."""

    id: str
    kind: str  # "unbilled" or "billed"
    created: datetime
    period: tuple  # (first day, last day included, last day with usage)
    currency: str
    invoice: str
    attribute_set: str
    polls: int = 0
    manifest: dict | None = None
    # each blob's recipe: ((tenant id, day), ...) whose records it holds, made on demand
    blobs: list = field(default_factory=list)
    behaviour: Behaviour = field(default_factory=Behaviour)


@dataclass
class ExportState:
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    behaviour: Behaviour = field(default_factory=Behaviour)
    exports: dict = field(default_factory=dict)  # operation id -> Export
    manifests: dict = field(default_factory=dict)  # manifest id -> Export
    blobs: dict = field(default_factory=dict)  # blob path -> (Export, index)


_STATE_LOCK = threading.Lock()


def _state(world):
    with _STATE_LOCK:
        state = world.service_state.get("usage_exports")
        if state is None:
            state = world.service_state["usage_exports"] = ExportState()
        return state


# -- periods and customers ----------------------------------------------------------


def _month_start(day):
    return day.replace(day=1)


def _month_end(day):
    return (_month_start(day) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def billing_period(kind, billing_period_name, today):
    """(first day, last day of the period, last day with usage) for an export."""
    this_month = _month_start(today)
    if kind == "unbilled" and billing_period_name == "current":
        return this_month, _month_end(today), today
    last_month = _month_start(this_month - timedelta(days=1))
    return last_month, _month_end(last_month), _month_end(last_month)


def azure_customers(world):
    """CSP customers with an Azure plan: a deterministic share of the reseller tenants."""
    resellers = [t for t in world.tenants.values() if t.reseller]
    chosen = [
        t for t in resellers if random.Random(f"{world.seed}:azure:{t.id}").random() < AZURE_SHARE
    ]
    return chosen or resellers[:1]


def _uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class AzureResource:
    meter: Meter
    group: str
    uri: str
    location: str
    region: str


def _customer_estate(world, tenant, copies=1):
    """The customer's Azure plan, Azure subscription and metered resources (each one
    ``copies`` times, under its own name)."""
    rng = random.Random(f"{world.seed}:estate:{tenant.id}")
    plan_id, entitlement = _uuid(rng), _uuid(rng)
    region, location = REGIONS.get(tenant.country, REGIONS["US"])
    resources = []
    for meter in rng.sample(METERS, rng.randint(2, 5)):
        group = f"rg-{rng.choice(['prod', 'shared', 'apps', 'data'])}-{location}"
        name = f"{meter.resource_type.lower()[:6]}{rng.randint(100, 999)}"
        uri = (
            f"/subscriptions/{entitlement}/resourceGroups/{group}/providers/"
            f"{meter.provider}/{meter.resource_type}/{name}"
        )
        resources.append(AzureResource(meter, group, uri, location, region))
        resources.extend(
            AzureResource(meter, group, f"{uri}-{copy}", location, region)
            for copy in range(1, max(copies, 1))
        )
    return plan_id, entitlement, resources


def _mpn_id(seed):
    return str(1000000 + (seed * 7919) % 9000000)


# -- records -------------------------------------------------------------------------


def _stamp(day):
    return f"{day.isoformat()}T00:00:00Z"


def _days(first, last):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


@functools.cache
def _meter_id(meter):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-meter:{meter.product_id}:{meter.name}"))


def _record(world, tenant, export, estate, resource, day):
    plan_id, entitlement, _ = estate
    meter = resource.meter
    quantity = round(
        random.Random(f"{world.seed}:{tenant.id}:{resource.uri}:{day}").uniform(*meter.daily), 6
    )
    pec = PEC_PERCENT if tenant.gdap is not None else 0
    effective = round(meter.unit_price * (100 - pec) / 100, 6)
    rate = EXCHANGE_RATES[export.currency]
    pricing_total = round(quantity * effective, 6)
    first, last, _ = export.period
    return {
        "PartnerId": world.partner_tenant_id,
        "PartnerName": world.partner_name,
        "CustomerId": tenant.id,
        "CustomerName": tenant.company_name,
        "CustomerDomainName": tenant.default_domain,
        "CustomerCountry": tenant.country,
        "MpnId": _mpn_id(world.seed),
        "Tier2MpnId": "",
        "InvoiceNumber": export.invoice,
        "ProductId": meter.product_id,
        "SkuId": meter.sku_id,
        "AvailabilityId": f"{meter.product_id[:8]}{meter.sku_id}",
        "SkuName": meter.sku_name,
        "ProductName": meter.product_name,
        "PublisherName": "Microsoft",
        "PublisherId": "",
        "SubscriptionDescription": AZURE_PLAN["SubscriptionDescription"],
        "SubscriptionId": plan_id,
        "ChargeStartDate": _stamp(first),
        "ChargeEndDate": _stamp(last),
        "UsageDate": _stamp(day),
        "MeterType": meter.unit,
        "MeterCategory": meter.category,
        "MeterId": _meter_id(meter),
        "MeterSubCategory": meter.subcategory,
        "MeterName": meter.name,
        "MeterRegion": resource.region,
        "Unit": meter.unit,
        "ResourceLocation": resource.location,
        "ConsumedService": meter.provider,
        "ResourceGroup": resource.group,
        "ResourceURI": resource.uri,
        "ChargeType": "new",
        "UnitPrice": meter.unit_price,
        "Quantity": quantity,
        "UnitType": meter.unit,
        "BillingPreTaxTotal": round(pricing_total * rate, 6),
        "BillingCurrency": export.currency,
        "PricingPreTaxTotal": pricing_total,
        "PricingCurrency": "USD",
        "ServiceInfo1": "",
        "ServiceInfo2": "",
        "Tags": "",
        "AdditionalInfo": "",
        "EffectiveUnitPrice": effective,
        "PCToBCExchangeRate": rate,
        "PCToBCExchangeRateDate": _stamp(first),
        "EntitlementId": entitlement,
        "EntitlementDescription": "Azure subscription 1",
        "PartnerEarnedCreditPercentage": pec,
        "CreditPercentage": 0,
        "CreditType": "Credit Not Applied",
        "BenefitOrderId": "",
        "BenefitId": "",
        "BenefitType": "",
    }


def _currencies():
    return sorted({market[0] for market in pricing.MARKETS.values()} | {"USD"})


def invoice_month(invoice):
    """(first day, currency) of an invoice id as invoices.py writes them
    (``G<YYYYMM><currency's number>``), else None."""
    text = (invoice or "").strip().upper()
    if len(text) != 10 or not text.startswith("G") or not text[1:].isdigit():
        return None
    try:
        return date(int(text[1:5]), int(text[5:7]), 1), _currencies()[int(text[7:]) - 1]
    except (ValueError, IndexError):
        return None


def billed_in(tenant):
    """The currency a customer is billed in (its market's)."""
    market = tenant.country if tenant.country in pricing.MARKETS else "US"
    return pricing.MARKETS[market][0]


def _units(world, export):
    """((tenant, day), number of records) of an export, in a stable order: a billed
    export of an invoice of invoices.py has the customers billed in its currency."""
    first, _, last_usage = export.period
    issued = invoice_month(export.invoice) if export.kind == "billed" else None
    for tenant in azure_customers(world):
        if issued and billed_in(tenant) != issued[1]:
            continue
        count = len(_customer_estate(world, tenant, export.behaviour.copies)[2])
        for day in _days(first, last_usage):
            yield (tenant.id, day), count


def _unit_records(world, export, unit):
    tenant_id, day = unit
    tenant = world.tenant(tenant_id)
    estate = _customer_estate(world, tenant, export.behaviour.copies)
    records = [_record(world, tenant, export, estate, resource, day) for resource in estate[2]]
    if export.attribute_set == "basic":
        records = [{k: r[k] for k in BASIC_ATTRIBUTES} for r in records]
    return records


def usage_records(world, export):
    """Every usage line of an export, in a stable order."""
    return [r for unit, _ in _units(world, export) for r in _unit_records(world, export, unit)]


def _blob_recipes(world, export):
    """The export's blobs as recipes: about ``lines_per_blob`` records each, whole days
    of a customer (the records are made when a blob is downloaded, never all at once)."""
    recipes, current, lines = [], [], 0
    for unit, count in _units(world, export):
        current.append(unit)
        lines += count
        if lines >= export.behaviour.lines_per_blob:
            recipes.append(tuple(current))
            current, lines = [], 0
    if current:
        recipes.append(tuple(current))
    return recipes


BLOB_CACHE_BYTES = 512 * 1024 * 1024  # blobs kept once made (a big export read again)


def blob_bytes(world, export, index):
    """The gzip-compressed JSON lines of one blob (the same bytes at every download; kept,
    up to BLOB_CACHE_BYTES, for any export of the same records)."""
    key = (export.kind, export.invoice, export.currency, export.attribute_set,
           export.period, export.behaviour.copies, export.blobs[index])  # fmt: skip
    cache = world.service_state.setdefault("usage_blobs", {})
    if key in cache:
        return cache[key]
    data = _make_blob(world, export, index)
    if sum(len(v) for v in cache.values()) + len(data) <= BLOB_CACHE_BYTES:
        cache[key] = data
    return data


def _make_blob(world, export, index):
    stream = io.BytesIO()
    with gzip.GzipFile(fileobj=stream, mode="wb", mtime=0, compresslevel=1) as gz:
        for unit in export.blobs[index]:
            gz.write(
                "".join(json.dumps(r) + "\n" for r in _unit_records(world, export, unit)).encode()
            )
    return stream.getvalue()


# -- the control API ------------------------------------------------------------------


def control_usage_exports(sb, request):
    """``GET``/``PUT /_control/usage-exports``: what the next exports do (Behaviour's
    fields; a PUT changes the ones it gives, ``{"reset": true}`` all of them), and the
    customers with an Azure plan (``customers``)."""
    state = _state(sb.world)
    if request.method == "PUT":
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
            if body.pop("reset", False):
                state.behaviour = Behaviour()
            state.behaviour = dataclasses.replace(state.behaviour, **body)
        except (ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)
    body = dataclasses.asdict(state.behaviour)
    body["customers"] = [t.id for t in azure_customers(sb.world)]  # with an Azure plan
    return json_response(body)


def register():
    """The control API's ``/usage-exports`` (called by ``app.py``; a second call changes
    nothing)."""
    if "/usage-exports" not in {rule.rule for rule in control.url_map.iter_rules()}:
        control.url_map.add(
            Rule("/usage-exports", endpoint=control_usage_exports, methods=["GET", "PUT"])
        )


# -- Graph side: export, operation, manifest -------------------------------------------


def _graph_time(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _read_body(ctx):
    try:
        body = json.loads(ctx.request.get_data() or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ctx.fail(400, "BadRequest", "The request body is not valid JSON.")
    return body


def _attribute_set(ctx, body):
    value = body.get("attributeSet") or "full"
    if value not in ("full", "basic"):
        raise ctx.fail(400, "BadRequest", f"The attributeSet '{value}' is not supported.")
    return value


def _export_from_body(ctx, kind, body, now):
    attribute_set = _attribute_set(ctx, body)
    if kind == "billed":
        invoice = str(body.get("invoiceId") or "")
        if not invoice:
            raise ctx.fail(400, "BadRequest", "The invoiceId parameter is required.")
        currency = "USD"
        issued = invoice_month(invoice)
        if issued:  # an invoice of invoices.py: its month and currency's customers
            first, currency = issued
            period = (first, _month_end(first), _month_end(first))
        else:  # any other invoice id: last month's, every customer
            period = billing_period(kind, None, now.date())
    else:
        invoice = ""
        name = body.get("billingPeriod")
        if name not in ("current", "last"):
            raise ctx.fail(400, "BadRequest", f"The billingPeriod '{name}' is not supported.")
        currency = str(body.get("currencyCode") or "").upper()
        if currency not in EXCHANGE_RATES:
            raise ctx.fail(400, "BadRequest", f"The currencyCode '{currency}' is not supported.")
        period = billing_period(kind, name, now.date())
    return Export(str(uuid.uuid4()), kind, now, period, currency, invoice, attribute_set)


def start_export(ctx, kind):
    """POST .../usage/{unbilled|billed}/export: 202 and the operation's Location."""
    now = ctx.sb.clock.now()
    export = _export_from_body(ctx, kind, _read_body(ctx), now)
    state = _state(ctx.sb.world)
    export.behaviour = dataclasses.replace(state.behaviour)
    state.exports[export.id] = export
    location = f"{ctx.base()}/v1.0/reports/partners/billing/operations/{export.id}"
    retry = str(export.behaviour.retry_after)
    return Response(status=202, headers={"Location": location, "Retry-After": retry})


def _operation_base(ctx, export, odata_type, status):
    return {
        "@odata.context": ctx.context("reports/partners/billing/operations/$entity"),
        "@odata.type": f"#microsoft.graph.partners.billing.{odata_type}",
        "id": export.id,
        "status": status,
        "createdDateTime": _graph_time(export.created),
        "lastActionDateTime": _graph_time(ctx.sb.clock.now()),
    }


def get_operation(ctx, operation_id):
    """GET .../operations/{id}: running, then succeeded with the manifest (or failed)."""
    state = _state(ctx.sb.world)
    export = state.exports.get(operation_id)
    if export is None:
        raise ctx.fail(404, "NotFound", f"The operation '{operation_id}' was not found.")
    export.polls += 1
    if export.polls <= export.behaviour.running_polls:
        body = _operation_base(ctx, export, "runningOperation", "running")
        return json_response(body, headers={"Retry-After": str(export.behaviour.retry_after)})
    if export.behaviour.fail:
        body = _operation_base(ctx, export, "failedOperation", "failed")
        body["error"] = {"message": export.behaviour.fail, "code": "5001"}
        return json_response(body)
    if export.manifest is None:
        _run(ctx, state, export)
    if not export.blobs:
        body = _operation_base(ctx, export, "failedOperation", "failed")
        body["error"] = {"message": "No data available", "code": "5000"}
        return json_response(body)
    body = _operation_base(ctx, export, "exportSuccessOperation", "succeeded")
    body["resourceLocation"] = export.manifest
    body["resourceLocation@odata.navigationLink"] = (
        f"{ctx.base()}/v1.0/reports/partners/billing/manifests/{export.manifest['id']}"
    )
    return json_response(body)


def get_manifest(ctx, manifest_id):
    export = _state(ctx.sb.world).manifests.get(manifest_id)
    if export is None:
        raise ctx.fail(404, "NotFound", f"The manifest '{manifest_id}' was not found.")
    body = {"@odata.context": ctx.context("reports/partners/billing/manifests/$entity")}
    body.update(export.manifest)
    return json_response(body)


def _directory(world, export):
    first = export.period[0]
    container = f"{export.kind}usagefastpath"
    scope = (
        f"InvoiceId={export.invoice}" if export.kind == "billed" else f"Currency={export.currency}"
    )
    return (
        f"/{container}/v1/PartnerTenantId={world.partner_tenant_id}/"
        f"BillingMonth={first:%Y%m}/{scope}/Fragment={export.attribute_set}/"
        f"PartitionType=default/ExportId={export.id}"
    )


def _run(ctx, state, export):
    """Produce the export's blobs and manifest (what Microsoft does in the background)."""
    world, now = ctx.sb.world, ctx.sb.clock.now()
    export.blobs = _blob_recipes(world, export)
    directory = _directory(world, export)
    names = [f"part-{i:05d}-{export.id}.c000.json.gz" for i in range(len(export.blobs))]
    for index, name in enumerate(names):
        state.blobs[f"{directory}/{name}"] = (export, index)
    digest = hashlib.sha256(repr(export.blobs).encode()).digest()
    export.manifest = {
        "id": str(uuid.uuid4()),
        "schemaVersion": "2",
        "dataFormat": "compressedJSON",
        "createdDateTime": _graph_time(now),
        "eTag": base64.urlsafe_b64encode(digest[:12]).decode(),
        "partnerTenantId": world.partner_tenant_id,
        "rootDirectory": f"{ctx.sb.base_url}/blobs{directory}",
        "sasToken": sas_token(
            state, directory, now - 2 * SAS_LIFETIME if export.behaviour.sas_expired else now
        ),
        "partitionType": "Default",
        "blobCount": len(names),
        "blobs": [{"name": name, "partitionValue": "default"} for name in names],
    }
    state.manifests[export.manifest["id"]] = export


# -- SAS tokens and the blob endpoint -----------------------------------------------------


def _sas_time(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _signature(state, directory, expiry):
    mac = hmac.new(state.secret, f"{directory}\n{expiry}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def sas_token(state, directory, now):
    """A directory SAS (read + list) in Azure Storage's query-string format."""
    expiry = _sas_time(now + SAS_LIFETIME)
    return urlencode(
        [
            ("skoid", str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox-sas-object"))),
            ("sktid", str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox-sas-tenant"))),
            ("skt", _sas_time(now)),
            ("ske", expiry),
            ("sks", "b"),
            ("skv", SAS_VERSION),
            ("sv", SAS_VERSION),
            ("se", expiry),
            ("sr", "d"),
            ("sp", "rl"),
            ("sdd", str(directory.count("/") - 1)),
            ("sig", _signature(state, directory, expiry)),
        ]
    )


def _storage_error(status, code, message, now, detail=None):
    request_id = str(uuid.uuid4())
    text = f"{message}\nRequestId:{request_id}\nTime:{now.strftime('%Y-%m-%dT%H:%M:%S.%f0Z')}"
    detail_xml = (
        f"<AuthenticationErrorDetail>{detail}</AuthenticationErrorDetail>" if detail else ""
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{text}</Message>{detail_xml}</Error>"
    )
    headers = {"x-ms-error-code": code, "x-ms-request-id": request_id}
    return Response(body, status=status, headers=headers, content_type="application/xml")


def _auth_failure(request, state, directory, now):
    """None when the request's SAS grants `directory`, else the detail of the failure."""
    args = request.args
    signature, expiry = args.get("sig"), args.get("se")
    if not signature or not expiry:
        return "Signature fields not well formed."
    if not hmac.compare_digest(signature, _signature(state, directory, expiry)):
        return "Signature did not match."
    try:
        ends = datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "Signature fields not well formed."
    if now > ends:
        return (
            "Signature not valid in the specified time frame: "
            f"Expiry [{ends:%a, %d %b %Y %H:%M:%S GMT}] - "
            f"Current [{now:%a, %d %b %Y %H:%M:%S GMT}]"
        )
    return None


def download_blob(sb, request, path):
    """GET /blobs/<path>?<sasToken>: the gzip-compressed JSON lines of one blob."""
    now = sb.clock.now()
    with sb.world.lock:
        state = _state(sb.world)
        found = state.blobs.get(f"/{path}")
    if found is None:
        return _storage_error(404, "BlobNotFound", "The specified blob does not exist.", now)
    export, index = found
    directory = f"/{path}".rsplit("/", 1)[0]
    detail = _auth_failure(request, state, directory, now)
    if detail is not None:
        return _storage_error(
            403,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization "
            "header is formed correctly including the signature.",
            now,
            detail,
        )
    with sb.world.lock:
        data = blob_bytes(sb.world, export, index)
    if export.behaviour.cut_blob == index:
        data = data[: len(data) // 2]  # the stream ends before gzip's end marker
    headers = {
        "ETag": f'"0x{hashlib.sha256(data).hexdigest()[:15].upper()}"',
        "x-ms-blob-type": "BlockBlob",
        "x-ms-version": SAS_VERSION,
        "Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode(),
    }
    return Response(data, headers=headers, content_type="application/octet-stream")


url_map = Map([Rule("/<path:path>", endpoint=download_blob, methods=["GET"])], strict_slashes=False)
