"""Licences: a tenant's ``subscribedSkus`` (prepaid units from its Partner Center
subscriptions, consumed units from its users' licences, service plans), a user's
``licenseDetails`` and ``assignLicense``.
"""

import json
import uuid

from ..errors import json_response
from ..generate import catalogue
from .handler import b64, graph_handler
from .odata import serialize
from .resources import USERS
from .users import find_user


@graph_handler
def user_license_details(ctx, user_id):
    user = find_user(ctx, user_id)
    part_numbers = sku_part_numbers()
    value = [
        {
            "id": b64(f"{user.id}:{lic['skuId']}".encode()),
            "skuId": lic["skuId"],
            "skuPartNumber": part_numbers.get(lic["skuId"].lower(), ""),
            "servicePlans": [],
        }
        for lic in user.assignedLicenses
    ]
    context = ctx.context(f"users('{user.id}')/licenseDetails")
    return json_response({"@odata.context": context, "value": value})


def sku_part_numbers():
    """Lower-cased skuId -> skuPartNumber, from the generator's SKU catalogue."""
    return {sku_id.lower(): sku.sku_part_number for sku_id, sku in catalogue().items()}


_QUANTITY_FIELD = {"active": "enabled", "suspended": "suspended", "expired": "lockedOut"}


def sku_table(tenant):
    """skuId -> prepaid units, from the tenant's subscriptions (deleted ones excluded)."""
    table = {}
    for sub in tenant.subscriptions:
        bucket = _QUANTITY_FIELD.get(sub.status)
        if bucket is None:
            continue
        units = table.setdefault(
            sub.skuId.lower(), {"enabled": 0, "suspended": 0, "warning": 0, "lockedOut": 0}
        )
        units[bucket] += sub.quantity
    return table


def consumed_units(tenant):
    counts = {}
    for user in tenant.users.values():
        for lic in user.assignedLicenses:
            key = lic["skuId"].lower()
            counts[key] = counts.get(key, 0) + 1
    return counts


def _capability(units):
    for status, bucket in (
        ("Enabled", "enabled"),
        ("Warning", "warning"),
        ("Suspended", "suspended"),
    ):
        if units[bucket]:
            return status
    return "LockedOut"


@graph_handler
def subscribed_skus(ctx):
    tenant = ctx.tenant
    table = sku_table(tenant)
    consumed = consumed_units(tenant)
    part_numbers = sku_part_numbers()
    empty = {"enabled": 0, "suspended": 0, "warning": 0, "lockedOut": 0}
    value = []
    for sku_id in dict.fromkeys([*table, *consumed]):
        units = table.get(sku_id, empty)
        value.append(
            {
                "accountName": tenant.company_name,
                "accountId": tenant.id,
                "appliesTo": "User",
                "capabilityStatus": _capability(units),
                "consumedUnits": consumed.get(sku_id, 0),
                "id": f"{tenant.id}_{sku_id}",
                "skuId": sku_id,
                "skuPartNumber": part_numbers.get(sku_id, ""),
                "subscriptionIds": [
                    s.id for s in tenant.subscriptions if s.skuId.lower() == sku_id
                ],
                "prepaidUnits": dict(units),
                "servicePlans": service_plans(sku_id, part_numbers.get(sku_id, "")),
            }
        )
    return json_response({"@odata.context": ctx.context("subscribedSkus"), "value": value})


# the workloads a licence carries, by words of its part number (the sandbox's own
# short list: enough for plans to be present and shaped as Graph serves them)
_PLANS = (
    (
        ("ENTERPRISE", "BUSINESS", "SPE_", "O365", "M365", "STANDARD", "SPB"),
        (
            "EXCHANGE_S_STANDARD",
            "SHAREPOINTSTANDARD",
            "MCOSTANDARD",
            "TEAMS1",
            "OFFICESUBSCRIPTION",
        ),
    ),
    (("SPB", "SPE_E", "EMS", "AAD_PREMIUM", "E3", "E5"), ("AAD_PREMIUM", "INTUNE_A")),
    (("EXCHANGE",), ("EXCHANGE_S_STANDARD",)),
    (("POWER_BI", "PBI"), ("BI_AZURE_P2",)),
    (("VISIO",), ("VISIO_CLIENT_SUBSCRIPTION",)),
    (("PROJECT",), ("PROJECT_CLIENT_SUBSCRIPTION",)),
    (("DEFENDER", "ATP"), ("ATP_ENTERPRISE",)),
)


def service_plans(sku_id, part_number):
    """subscribedSku.servicePlans: servicePlanInfo entries (id, name, status, target)."""
    names = []
    for words, plans in _PLANS:
        if any(word in part_number.upper() for word in words):
            names += [plan for plan in plans if plan not in names]
    names = names or [part_number or "SERVICE_PLAN"]
    return [
        {
            "servicePlanId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"plan:{sku_id}:{name}")),
            "servicePlanName": name,
            "provisioningStatus": "Success",
            "appliesTo": "User",
        }
        for name in names
    ]


def _license_body(ctx):
    try:
        body = json.loads(ctx.request.get_data() or b"{}")
        adds = body.get("addLicenses") or []
        removes = [str(s).lower() for s in body.get("removeLicenses") or []]
        adds = [
            {"skuId": str(a["skuId"]).lower(), "disabledPlans": a.get("disabledPlans") or []}
            for a in adds
        ]
    except (ValueError, AttributeError, KeyError, TypeError):
        raise ctx.fail(400, "Request_BadRequest", "Invalid request body.") from None
    return adds, removes


def _check_license_change(ctx, user, adds, removes):
    table = sku_table(ctx.tenant)
    consumed = consumed_units(ctx.tenant)
    held = {lic["skuId"].lower() for lic in user.assignedLicenses}
    for sku_id in removes:
        if sku_id not in held:
            raise ctx.fail(400, "Request_BadRequest", "User does not have a corresponding license.")
    for add in adds:
        sku_id = add["skuId"]
        if sku_id not in table:
            raise ctx.fail(
                400,
                "Request_BadRequest",
                f"License {sku_id} does not correspond to a valid company License.",
            )
        if sku_id not in held and consumed.get(sku_id, 0) >= table[sku_id]["enabled"]:
            raise ctx.fail(
                400,
                "Request_BadRequest",
                f"Subscription with SKU {sku_id} does not have any available licenses.",
            )


@graph_handler
def assign_license(ctx, user_id):
    user = find_user(ctx, user_id)
    adds, removes = _license_body(ctx)
    _check_license_change(ctx, user, adds, removes)
    changed = {a["skuId"] for a in adds} | set(removes)
    licenses = [lic for lic in user.assignedLicenses if lic["skuId"].lower() not in changed]
    licenses.extend(adds)
    user = ctx.sb.world.update_user(ctx.tenant, user.id, assignedLicenses=licenses)
    body = {"@odata.context": ctx.context("users/$entity")}
    body.update(serialize(user, USERS, None))
    return json_response(body)
