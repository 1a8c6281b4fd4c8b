"""What the sandbox serves for each Graph resource the connector reads, parsed with
Microsoft's own generated models (msgraph-sdk, through kiota_serialization_json).

A key the model does not know (it would land in ``additional_data``) fails, but for
OData annotations and the documented ``members@delta``. A value of the wrong type, or
an enum value the model does not list, parses to None through the model's own
deserializer for that key: that fails too.
"""

import pytest
from conftest import graph_token
from kiota_abstractions.serialization import Parsable
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.delegated_admin_access_assignment import (
    DelegatedAdminAccessAssignment,
)
from msgraph.generated.models.delegated_admin_relationship import (
    DelegatedAdminRelationship,
)
from msgraph.generated.models.directory_object import DirectoryObject
from msgraph.generated.models.group import Group
from msgraph.generated.models.managed_device import ManagedDevice
from msgraph.generated.models.subscribed_sku import SubscribedSku
from msgraph.generated.models.user import User
from test_graph import customer, graph_get

# documented keys outside the models: a group's member changes in a delta entry
DOCUMENTED_EXTRAS = {"members@delta"}
PAGE_KEYS = {"value", "@odata.context", "@odata.nextLink", "@odata.deltaLink", "@odata.count"}


def problems_of(cls, raw, path=""):
    """Each served key read through the model's own deserializer for it: an unknown key,
    or a non-null value the model turns into None (wrong type, unknown enum value), is
    a problem; objects and lists of objects are checked the same way, level by level."""
    problems = []
    fields = cls().get_field_deserializers()
    for key, value in raw.items():
        if key.startswith("@") or key in DOCUMENTED_EXTRAS:
            continue
        if key not in fields:
            problems.append(f"{path}.{key}: unknown to {cls.__name__}")
            continue
        if value is None:
            continue
        probe = cls()
        before = dict(vars(probe))
        try:
            probe.get_field_deserializers()[key](JsonParseNode(value))
        except Exception as exc:  # the model refuses the value outright
            problems.append(f"{path}.{key}={value!r}: {exc}")
            continue
        parsed = [v for n, v in vars(probe).items() if v is not None and before.get(n) is not v]
        if not parsed:
            problems.append(f"{path}.{key}={value!r}: not a {cls.__name__} value")
            continue
        problems += _nested(parsed[0], value, f"{path}.{key}")
    return problems


def _nested(parsed, value, path):
    if isinstance(parsed, Parsable) and isinstance(value, dict):
        return problems_of(type(parsed), value, path)
    if isinstance(value, list):
        if not isinstance(parsed, list) or len(parsed) != len(value) or None in parsed:
            return [f"{path}={value!r}: not read as a list of its type"]
        found = []
        for index, (item, raw) in enumerate(zip(parsed, value, strict=True)):
            found += _nested(item, raw, f"{path}[{index}]")
        return found
    return []


def check_page(body, model):
    assert set(body) <= PAGE_KEYS, set(body) - PAGE_KEYS
    assert body["value"], "nothing to check"
    problems = []
    for raw in body["value"]:
        if "@removed" in raw:
            assert set(raw) <= {"id", "@removed", "@odata.type"}, raw
            assert raw["@removed"]["reason"] in ("changed", "deleted")
            continue
        try:
            item = JsonParseNode(raw).get_object_value(model)  # @odata.type picks the subtype
        except Exception as exc:  # a value the model refuses outright
            problems.append(f"{raw.get('id')}: {exc}")
            continue
        problems += [f"{raw.get('id')}{p}" for p in problems_of(type(item), raw)]
        for member in raw.get("members@delta") or []:
            entry = {k: v for k, v in member.items() if k != "@removed"}
            kind = JsonParseNode(entry).get_object_value(DirectoryObject)
            problems += [f"{raw['id']} member{p}" for p in problems_of(type(kind), entry)]
    assert not problems, "\n".join(problems[:30])


def get(sb, tenant_id, path, params=None, token=None):
    response = graph_get(sb, tenant_id, path, params, token=token)
    assert response.status_code == 200, response.text
    return response.json()


USER_PROPERTIES = (
    "id,displayName,givenName,surname,mail,userPrincipalName,jobTitle,department,"
    "officeLocation,mobilePhone,businessPhones,streetAddress,city,postalCode,state,country,"
    "employeeId,companyName,onPremisesSamAccountName,userType,accountEnabled,usageLocation,"
    "preferredLanguage,createdDateTime,assignedLicenses,signInActivity"
)


def test_users_and_users_delta(sandbox):
    tenant = customer(sandbox, p1=True)
    check_page(get(sandbox, tenant.id, "/users", {"$select": USER_PROPERTIES}), User)
    check_page(get(sandbox, tenant.id, "/users"), User)
    delta = get(sandbox, tenant.id, "/users/delta", {"$select": USER_PROPERTIES})
    check_page(delta, User)
    link = delta.get("@odata.deltaLink") or delta["@odata.nextLink"]
    while "@odata.nextLink" in delta:
        delta = get(sandbox, tenant.id, delta["@odata.nextLink"])
        link = delta.get("@odata.deltaLink")
    users = list(tenant.users)
    sandbox.world.update_user(tenant, users[0], jobTitle="Auditor", mobilePhone=None)
    sandbox.world.delete_user(tenant, users[1])
    sandbox.world.delete_user(tenant, users[2], permanent=True)
    check_page(get(sandbox, tenant.id, link), User)


def test_groups_delta(sandbox):
    tenant = customer(sandbox)
    body = get(sandbox, tenant.id, "/groups/delta", {"$select": "id,displayName,members"})
    assert any("members@delta" in g for g in body["value"])
    check_page(body, Group)
    check_page(get(sandbox, tenant.id, "/groups/delta"), Group)


def test_subscribed_skus(sandbox):
    tenant = customer(sandbox)
    body = get(sandbox, tenant.id, "/subscribedSkus")
    assert all(sku["servicePlans"] for sku in body["value"]), "service plans are served"
    check_page(body, SubscribedSku)


def test_managed_devices(sandbox):
    tenant = next(
        sandbox.world.tenant(t.id)
        for t in sandbox.world.tenants.values()
        if t.id not in sandbox.world.special["no_consent"]
        and t.id != sandbox.world.special["consent_blocked"]
        and sandbox.world.tenant(t.id).devices
    )
    check_page(get(sandbox, tenant.id, "/deviceManagement/managedDevices"), ManagedDevice)


def test_delegated_admin_relationships_and_access_assignments(sandbox):
    pending = next(t for t in sandbox.world.tenants.values() if t.gdap)
    sandbox.world.update_gdap(pending, status="approvalPending")
    partner = sandbox.world.partner_tenant_id
    token = graph_token(sandbox, partner)
    path = "/tenantRelationships/delegatedAdminRelationships"
    body = get(sandbox, partner, path, token=token)
    check_page(body, DelegatedAdminRelationship)
    relationship = body["value"][0]
    assert all(r["@odata.etag"] for r in body["value"])
    by_tenant = {r["customer"]["tenantId"]: r for r in body["value"]}
    assert by_tenant[pending.id]["endDateTime"] is None, "not started: no end yet"
    assert by_tenant[pending.id]["activatedDateTime"] is None
    kinds = {r["@odata.type"] for r in body["value"]}
    assert "#microsoft.graph.resellerDelegatedAdminRelationship" in kinds
    assignments = get(sandbox, partner, f"{path}/{relationship['id']}/accessAssignments",
                      token=token)  # fmt: skip
    check_page(assignments, DelegatedAdminAccessAssignment)


def test_the_check_fails_on_unknown_keys_wrong_types_and_enum_values():
    served = {"id": "u1", "displayName": "A", "userType": "Member", "accountEnabled": True}
    check_page({"value": [served]}, User)
    for broken in ({"deviceType": "windowsRT"}, {"accountEnabled": "yes"},
                   {"businessPhones": "0113"}):  # fmt: skip
        with pytest.raises(AssertionError):
            check_page({"value": [{**served, **broken}]}, User)
    device = {"id": "d1", "complianceState": "compliant", "managedDeviceOwnerType": "company"}
    check_page({"value": [device]}, ManagedDevice)
    with pytest.raises(AssertionError):
        check_page({"value": [{**device, "complianceState": "fine"}]}, ManagedDevice)
