"""Microsoft Graph v1.0: the directory, licence, Intune and GDAP calls the connector makes.

Every route authenticates with ``sb.require_token(request, "graph")`` and serves the
tenant named by the token's ``tid`` (``handler``).  Collections page with
``@odata.nextLink`` (an opaque ``$skiptoken``), honour ``$select``, ``$top`` and a small
``$filter`` dialect (``odata``), and ``/users/delta`` and ``/groups/delta`` keep
Microsoft's delta-query contract on top of the tenant's change log (``delta``).  One
module per workload: ``users``, ``groups``, ``licences``, ``managed_devices`` (Intune),
``organization``, ``sign_ins``, ``gdap`` and ``partner_billing`` (whose exports live in
``usage_exports``).  This module is the URL map: which of them serves each route;
``sku_table`` and ``consumed_units`` (``licences``) are the licence counts the control
API's ``licences/fill`` uses.
"""

from werkzeug.routing import Map, Rule

from .delta import groups_delta, users_delta
from .gdap import get_relationship, list_relationships, relationship_access_assignments
from .groups import get_group, group_members, list_groups
from .licences import (
    assign_license,
    consumed_units,
    sku_table,
    subscribed_skus,
    user_license_details,
)
from .managed_devices import get_managed_device, list_managed_devices
from .organization import organization
from .partner_billing import (
    billing_billed_export,
    billing_manifest,
    billing_operation,
    billing_unbilled_export,
)
from .sign_ins import sign_ins
from .users import get_user, list_users, user_member_of

_BILLING = "/v1.0/reports/partners/billing"
_GDAP = "/v1.0/tenantRelationships/delegatedAdminRelationships"

url_map = Map(
    [
        Rule("/v1.0/users", endpoint=list_users, methods=["GET"]),
        Rule("/v1.0/users/delta", endpoint=users_delta, methods=["GET"]),
        Rule("/v1.0/users/<user_id>", endpoint=get_user, methods=["GET"]),
        Rule("/v1.0/users/<user_id>/memberOf", endpoint=user_member_of, methods=["GET"]),
        Rule(
            "/v1.0/users/<user_id>/licenseDetails", endpoint=user_license_details, methods=["GET"]
        ),
        Rule("/v1.0/users/<user_id>/assignLicense", endpoint=assign_license, methods=["POST"]),
        Rule("/v1.0/groups", endpoint=list_groups, methods=["GET"]),
        Rule("/v1.0/groups/delta", endpoint=groups_delta, methods=["GET"]),
        Rule("/v1.0/groups/<group_id>", endpoint=get_group, methods=["GET"]),
        Rule("/v1.0/groups/<group_id>/members", endpoint=group_members, methods=["GET"]),
        Rule("/v1.0/groups/<group_id>/transitiveMembers", endpoint=group_members, methods=["GET"]),
        Rule("/v1.0/subscribedSkus", endpoint=subscribed_skus, methods=["GET"]),
        Rule(
            "/v1.0/deviceManagement/managedDevices",
            endpoint=list_managed_devices,
            methods=["GET"],
        ),
        Rule(
            "/v1.0/deviceManagement/managedDevices/<device_id>",
            endpoint=get_managed_device,
            methods=["GET"],
        ),
        Rule("/v1.0/organization", endpoint=organization, methods=["GET"]),
        Rule("/v1.0/auditLogs/signIns", endpoint=sign_ins, methods=["GET"]),
        Rule(_GDAP, endpoint=list_relationships, methods=["GET"]),
        Rule(f"{_GDAP}/<relationship_id>", endpoint=get_relationship, methods=["GET"]),
        Rule(
            f"{_GDAP}/<relationship_id>/accessAssignments",
            endpoint=relationship_access_assignments,
            methods=["GET"],
        ),
        Rule(
            f"{_BILLING}/usage/unbilled/export", endpoint=billing_unbilled_export, methods=["POST"]
        ),
        Rule(f"{_BILLING}/usage/billed/export", endpoint=billing_billed_export, methods=["POST"]),
        Rule(f"{_BILLING}/operations/<operation_id>", endpoint=billing_operation, methods=["GET"]),
        Rule(f"{_BILLING}/manifests/<manifest_id>", endpoint=billing_manifest, methods=["GET"]),
    ],
    strict_slashes=False,
)
