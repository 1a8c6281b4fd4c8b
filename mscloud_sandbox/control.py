"""The control API (``/_control``): inspect the world, move the clock, inject faults, edit.

JSON in, JSON out; documented in ``README.md``.  Every change goes through the World's
mutation methods, so Graph delta queries see it.  No token is needed: it is the test
harness's back door, never part of what Microsoft offers.
"""

import dataclasses
import importlib
import json
import re
import uuid
from datetime import datetime, timedelta

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from . import errors, pricing
from .clock import Clock
from .faults import FaultRule
from .generate import build_world
from .tokens import TokenService
from .world import Device, Group, Subscription, User

ISO = "%Y-%m-%dT%H:%M:%SZ"
# Graph fields a create body may carry that the world does not model.
_IGNORED_FIELDS = {"@odata.type", "passwordProfile", "mailNickname"}
# build_world's sizes a reset takes (the seed defaults to the current world's)
_WORLD_SIZES = ("seed", "tenants", "users", "groups", "devices", "subscriptions",
                "big_tenant_users")  # fmt: skip
_TENANT_FLAGS = {"consent_blocked", "has_p1", "reseller", "company_name", "country",
                 "delta_full_records", "delta_members_per_entry"}  # fmt: skip


def _fail(status, message):
    raise errors.ApiError(errors.json_response({"error": message}, status))


def _body(request):
    if not request.get_data():
        return {}
    try:
        body = json.loads(request.get_data())
    except ValueError:
        _fail(400, "the body is not JSON")
    if not isinstance(body, dict):
        _fail(400, "the body must be a JSON object")
    return body


def _tenant(sb, tenant_id):
    tenant = sb.world.tenant(tenant_id)
    if tenant is None:
        _fail(404, f"no tenant {tenant_id}")
    return tenant


def _iso(moment):
    return moment.strftime(ISO)


def _build(cls, values, defaults):
    """A `cls` dataclass from a JSON body; unknown or missing fields are a 400."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names - _IGNORED_FIELDS
    if unknown:
        _fail(400, f"unknown fields: {', '.join(sorted(unknown))}")
    fields = defaults | {key: value for key, value in values.items() if key in names}
    try:
        return cls(**fields)
    except TypeError as exc:
        _fail(400, f"missing fields: {exc}")


def _replace(obj, values):
    names = {f.name for f in dataclasses.fields(obj)} - {"id"}
    unknown = set(values) - names
    if unknown:
        _fail(400, f"unknown fields: {', '.join(sorted(unknown))}")
    return dataclasses.replace(obj, **values)


def _created(obj):
    return errors.json_response(dataclasses.asdict(obj), 201)


def _no_content():
    return Response(status=204)


# -- state, clock, faults ------------------------------------------------------


def state(sb, request):
    world = sb.world
    return errors.json_response(
        {
            "clock": _iso(sb.clock.now()),
            "seed": world.seed,
            "urls": sb.urls,
            "ca_path": sb.ca_path,
            "partner": {
                "tenant_id": world.partner_tenant_id,
                "name": world.partner_name,
                "domain": world.partner_domain,
                "admin_upn": world.partner_admin_upn,
            },
            "apps": {
                "partner_center": _app_summary(world.partner_center_app),
                "gdap": _app_summary(world.gdap_app),
            },
            "tenants": [_tenant_summary(tenant) for tenant in list(world.tenants.values())],
            "faults": [rule.to_dict() for rule in sb.faults.rules()],
            "webhook": world.webhook,
            "special": world.special,
        }
    )


def _app_summary(app):
    return {
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "display_name": app.display_name,
        "multi_tenant": app.multi_tenant,
        "secret_expires": _iso(app.secret_expires) if app.secret_expires else None,
    }


def _tenant_summary(tenant):
    gdap = tenant.gdap
    return {
        "id": tenant.id,
        "company_name": tenant.company_name,
        "default_domain": tenant.default_domain,
        "domains": tenant.domains,
        "country": tenant.country,
        "reseller": tenant.reseller,
        "has_p1": tenant.has_p1,
        "consent_blocked": tenant.consent_blocked,
        "consented_apps": sorted(tenant.consented_apps),
        "gdap": gdap and {"id": gdap.id, "status": gdap.status, "endDateTime": gdap.endDateTime},
        "subscriptions": len(tenant.subscriptions),
        # the generated size until the tenant is loaded, then the live count
        "users": len(tenant.users) or tenant.n_users,
    }


def clock(sb, request):
    if request.method == "POST":
        body = _body(request)
        if "advance_seconds" in body:
            sb.clock.advance(float(body["advance_seconds"]))
        elif "set" in body:
            try:
                sb.clock.set(datetime.fromisoformat(body["set"].replace("Z", "+00:00")))
            except (AttributeError, ValueError):
                _fail(400, "'set' must be an ISO 8601 date-time")
        else:
            _fail(400, "send {'advance_seconds': n} or {'set': iso}")
    return errors.json_response({"now": _iso(sb.clock.now())})


def reset(sb, request):
    """The sandbox as a new process starts, on the same port and CA: a world generated
    anew (the body's sizes as ``generate.build_world`` takes them, the seed by default
    the current one), the clock at real time, no fault rule, a new token-signing key and
    no code or refresh token, no webhook registration nor delivery history (deliveries
    under way make no more attempts), no remembered Partner Center request. Answers the
    state, as ``GET /state``."""
    body = _body(request)
    unknown = set(body) - set(_WORLD_SIZES)
    if unknown:
        _fail(400, f"cannot set: {', '.join(sorted(unknown))}")
    sizes = {"seed": sb.world.seed} | body
    if not all(v is None or (isinstance(v, int) and v >= 0) for v in sizes.values()):
        _fail(400, "sizes are whole numbers (or null: the generator's default)")
    if sizes["seed"] is None:
        _fail(400, "seed is a whole number")
    world = build_world(**sizes)
    partner_center = importlib.import_module(".partner_center", __package__)
    webhooks = importlib.import_module(".webhooks", __package__)
    with sb.world.lock:
        sb.faults.clear()
        sb.clock = Clock()
        sb.tokens = TokenService(sb.clock, sb.tokens.lifetime)
        sb.world = world
        webhooks.reset(sb)
        with partner_center._replays_lock:
            partner_center._replays.pop(sb, None)
    return state(sb, request)


def rotate_signing_key(sb, request):
    return errors.json_response({"kid": sb.tokens.rotate_key()}, 201)


def faults(sb, request):
    if request.method == "DELETE":
        sb.faults.clear()
        return _no_content()
    if request.method == "POST":
        body = _body(request)
        specs = body.get("rules", [body])
        try:
            rules = [FaultRule(**{k: v for k, v in s.items() if k != "id"}) for s in specs]
        except (TypeError, ValueError) as exc:
            _fail(400, str(exc))
        for rule in rules:
            sb.faults.add(rule)
        return errors.json_response({"rules": [rule.to_dict() for rule in rules]}, 201)
    return errors.json_response({"rules": [rule.to_dict() for rule in sb.faults.rules()]})


def fault(sb, request, rule_id):
    if not sb.faults.remove(rule_id):
        _fail(404, f"no fault rule {rule_id}")
    return _no_content()


# -- tenant objects ------------------------------------------------------------


def create_user(sb, request, tenant_id):
    tenant = _tenant(sb, tenant_id)
    defaults = {"id": str(uuid.uuid4()), "createdDateTime": _iso(sb.clock.now())}
    user = _build(User, _body(request), defaults)
    sb.world.upsert_user(tenant, user)
    return _created(user)


def user(sb, request, tenant_id, object_id):
    """PATCH changes a user; DELETE moves it to deleted items (``?permanent=true``:
    gone for good, also from deleted items)."""
    tenant = _tenant(sb, tenant_id)
    permanent = request.args.get("permanent", "").lower() in ("1", "true")
    if request.method == "DELETE" and permanent and object_id in tenant.deleted_users:
        sb.world.delete_user(tenant, object_id, permanent=True)
        return _no_content()
    if object_id not in tenant.users:
        _fail(404, f"no user {object_id} in tenant {tenant_id}")
    if request.method == "DELETE":
        sb.world.delete_user(tenant, object_id, permanent=permanent)
        return _no_content()
    values = _body(request)
    _replace(tenant.users[object_id], values)  # validates the field names
    updated = sb.world.update_user(tenant, object_id, **values)
    return errors.json_response(dataclasses.asdict(updated))


def restore_user(sb, request, tenant_id, object_id):
    """Bring a user back from deleted items."""
    tenant = _tenant(sb, tenant_id)
    if object_id not in tenant.deleted_users:
        _fail(404, f"no deleted user {object_id} in tenant {tenant_id}")
    return errors.json_response(dataclasses.asdict(sb.world.restore_user(tenant, object_id)))


def create_group(sb, request, tenant_id):
    tenant = _tenant(sb, tenant_id)
    group = _build(Group, _body(request), {"id": str(uuid.uuid4())})
    sb.world.upsert_group(tenant, group)
    return _created(group)


def group(sb, request, tenant_id, object_id):
    tenant = _tenant(sb, tenant_id)
    if object_id not in tenant.groups:
        _fail(404, f"no group {object_id} in tenant {tenant_id}")
    if request.method == "DELETE":
        sb.world.delete_group(tenant, object_id)
        return _no_content()
    values = _body(request)
    members = values.pop("members", None)
    if values:
        sb.world.upsert_group(tenant, _replace(tenant.groups[object_id], values))
    if members is not None:
        sb.world.set_group_members(tenant, object_id, members)
    return errors.json_response(dataclasses.asdict(tenant.groups[object_id]))


def create_device(sb, request, tenant_id):
    tenant = _tenant(sb, tenant_id)
    now = _iso(sb.clock.now())
    defaults = {
        "id": str(uuid.uuid4()),
        "serialNumber": uuid.uuid4().hex[:12].upper(),
        "userPrincipalName": None,
        "userId": None,
        "azureADDeviceId": str(uuid.uuid4()),
        "operatingSystem": "Windows",
        "osVersion": "10.0.22631.4460",
        "model": "Surface Laptop 5",
        "manufacturer": "Microsoft Corporation",
        "complianceState": "compliant",
        "lastSyncDateTime": now,
        "enrolledDateTime": now,
        "managedDeviceOwnerType": "company",
        "managementAgent": "mdm",
    }
    device = _build(Device, _body(request), defaults)
    sb.world.upsert_device(tenant, device)
    return _created(device)


def device(sb, request, tenant_id, object_id):
    tenant = _tenant(sb, tenant_id)
    if object_id not in tenant.devices:
        _fail(404, f"no device {object_id} in tenant {tenant_id}")
    if request.method == "DELETE":
        sb.world.delete_device(tenant, object_id)
        return _no_content()
    updated = _replace(tenant.devices[object_id], _body(request))
    sb.world.upsert_device(tenant, updated)
    return errors.json_response(dataclasses.asdict(updated))


def create_subscription(sb, request, tenant_id):
    tenant = _tenant(sb, tenant_id)
    body = _body(request)
    now = sb.clock.now()
    name = body.get("offerName") or body.get("friendlyName") or body.get("offerId", "")
    defaults = {
        "id": str(uuid.uuid4()).upper(),
        "offerName": name,
        "friendlyName": name,
        "quantity": 1,
        "unitType": "Licenses",
        "status": "active",
        "autoRenewEnabled": True,
        "billingCycle": "monthly",
        "termDuration": "P1Y",
        "creationDate": _iso(now),
        "effectiveStartDate": _iso(now),
        "commitmentEndDate": _iso(now + timedelta(days=365)),
    }
    subscription = _build(Subscription, body, defaults)
    sb.world.upsert_subscription(tenant, subscription)
    return _created(subscription)


def fill_licences(sb, request, tenant_id):
    """Each licence the tenant's subscriptions provide held by ``per_sku`` enabled members
    (a benchmark's set-up; default 50): members who lack it get it, in id order, as long
    as the SKU has seats left. Answers {skuId: holders}."""
    tenant = _tenant(sb, tenant_id)
    per_sku = int(_body(request).get("per_sku", 50))
    graph_views = importlib.import_module(".graph", __package__)
    seats = {sku: sum(units.values()) for sku, units in graph_views.sku_table(tenant).items()}
    members = sorted(
        (u for u in tenant.users.values() if u.userType == "Member" and u.accountEnabled),
        key=lambda u: u.id,
    )
    held = graph_views.consumed_units(tenant)
    for sku_id, total in seats.items():
        wanted = min(per_sku, total)
        for user in members:
            if held.get(sku_id, 0) >= wanted:
                break
            if any(lic["skuId"].lower() == sku_id for lic in user.assignedLicenses):
                continue
            licences = [*user.assignedLicenses, {"skuId": sku_id, "disabledPlans": []}]
            sb.world.update_user(tenant, user.id, assignedLicenses=licences)
            held[sku_id] = held.get(sku_id, 0) + 1
    return errors.json_response({sku: held.get(sku, 0) for sku in seats})


def subscription(sb, request, tenant_id, object_id):
    tenant = _tenant(sb, tenant_id)
    current = next((s for s in tenant.subscriptions if s.id == object_id), None)
    if current is None:
        _fail(404, f"no subscription {object_id} in tenant {tenant_id}")
    if request.method == "DELETE":
        sb.world.delete_subscription(tenant, object_id)
        return _no_content()
    updated = _replace(current, _body(request))
    sb.world.upsert_subscription(tenant, updated)
    return errors.json_response(dataclasses.asdict(updated))


def consent(sb, request, tenant_id):
    tenant = _tenant(sb, tenant_id)
    apps = _body(request).get("apps")
    if request.method == "DELETE":
        sb.world.revoke_consent(tenant, apps)
    else:
        sb.world.grant_consent(tenant, apps or [sb.world.gdap_app.client_id])
    return errors.json_response({"consented_apps": sorted(tenant.consented_apps)})


def tenant_settings(sb, request, tenant_id):
    tenant = _tenant(sb, tenant_id)
    body = _body(request)
    gdap = body.pop("gdap", None)
    unknown = set(body) - _TENANT_FLAGS
    if unknown:
        _fail(400, f"cannot set: {', '.join(sorted(unknown))}")
    if gdap is not None and tenant.gdap is None:
        _fail(400, f"tenant {tenant_id} has no GDAP relationship")
    try:
        sb.world.update_tenant(tenant, **body)
        if gdap:
            sb.world.update_gdap(tenant, **gdap)
    except KeyError as exc:
        _fail(400, f"cannot set: {exc.args[0]}")
    return errors.json_response(_tenant_summary(tenant))


# -- webhooks ------------------------------------------------------------------


def send_webhook(sb, request):
    """Deliver a Partner Center webhook event now (see webhooks.deliver)."""
    body = _body(request)
    event_name = body.get("EventName")
    if not event_name:
        _fail(400, "EventName is required")
    resource_uri = body.get("ResourceUri") or _resource_uri(sb, body)
    webhooks = importlib.import_module(".webhooks", __package__)
    result = webhooks.deliver(sb, event_name, resource_uri, customer_id=body.get("customerId"))
    return errors.json_response(result if isinstance(result, dict) else {"result": result})


def webhook_state(sb, _request):
    """How many times a certificate was downloaded from /certs (tests: a refused URL
    never reaches the host it named)."""
    webhooks = importlib.import_module(".webhooks", __package__)
    return errors.json_response({"certificate_downloads": webhooks.state(sb).downloads})


def publish_certificate(sb, request):
    """Serve one more certificate under /certs (tests: an untrusted or foreign signer)."""
    body = _body(request)
    name, pem = body.get("name"), body.get("pem")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        _fail(400, "name must be 1-64 letters, digits, '.', '_' or '-'")
    if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
        _fail(400, "pem must be a PEM certificate")
    webhooks = importlib.import_module(".webhooks", __package__)
    if name == webhooks.CERT_NAME:
        _fail(400, "that name is the signing certificate's")
    webhooks.publish_certificate(sb, name, pem.encode("ascii"))
    return errors.json_response({"url": f"{sb.base_url}/certs/{name}.cer"}, 201)


def _resource_uri(sb, body):
    customer_id = body.get("customerId")
    if not customer_id:
        return None
    uri = f"{sb.urls['partner_center']}/v1/customers/{customer_id}"
    if body.get("subscriptionId"):
        uri += f"/subscriptions/{body['subscriptionId']}"
    return uri


url_map = Map(
    [
        Rule("/state", endpoint=state, methods=["GET"]),
        Rule("/clock", endpoint=clock, methods=["GET", "POST"]),
        Rule("/reset", endpoint=reset, methods=["POST"]),
        Rule("/pricing", endpoint=pricing.control, methods=["GET", "PATCH"]),
        Rule("/faults", endpoint=faults, methods=["GET", "POST", "DELETE"]),
        Rule("/signing-keys/rotate", endpoint=rotate_signing_key, methods=["POST"]),
        Rule("/faults/<int:rule_id>", endpoint=fault, methods=["DELETE"]),
        Rule("/tenants/<tenant_id>", endpoint=tenant_settings, methods=["PATCH"]),
        Rule("/tenants/<tenant_id>/consent", endpoint=consent, methods=["POST", "DELETE"]),
        Rule("/tenants/<tenant_id>/users", endpoint=create_user, methods=["POST"]),
        Rule("/tenants/<tenant_id>/users/<object_id>", endpoint=user, methods=["PATCH", "DELETE"]),
        Rule(
            "/tenants/<tenant_id>/users/<object_id>/restore",
            endpoint=restore_user,
            methods=["POST"],
        ),
        Rule("/tenants/<tenant_id>/groups", endpoint=create_group, methods=["POST"]),
        Rule(
            "/tenants/<tenant_id>/groups/<object_id>", endpoint=group, methods=["PATCH", "DELETE"]
        ),
        Rule("/tenants/<tenant_id>/devices", endpoint=create_device, methods=["POST"]),
        Rule(
            "/tenants/<tenant_id>/devices/<object_id>",
            endpoint=device,
            methods=["PATCH", "DELETE"],
        ),
        Rule("/tenants/<tenant_id>/subscriptions", endpoint=create_subscription, methods=["POST"]),
        Rule("/tenants/<tenant_id>/licences/fill", endpoint=fill_licences, methods=["POST"]),
        Rule(
            "/tenants/<tenant_id>/subscriptions/<object_id>",
            endpoint=subscription,
            methods=["PATCH", "DELETE"],
        ),
        Rule("/webhooks", endpoint=webhook_state, methods=["GET"]),
        Rule("/webhooks/send", endpoint=send_webhook, methods=["POST"]),
        Rule("/webhooks/certificates", endpoint=publish_certificate, methods=["POST"]),
    ],
    strict_slashes=False,
)
