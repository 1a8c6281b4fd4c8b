"""GDAP: the partner's delegated admin relationships with its customers and their access
assignments (``/tenantRelationships/delegatedAdminRelationships``), for the partner's
own tokens only.
"""

import base64
import hashlib

from ..errors import json_response
from .handler import graph_handler, require_partner
from .odata import matches, page_size, paged, parse_filter

GDAP_PAGE = 300
RELATIONSHIPS_FILTERABLE = frozenset({"id", "status", "displayName", "customer/tenantId"})

NOT_STARTED = ("created", "approvalPending")  # not active yet: no activation, no end


def _etag(*parts):
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()[:9]
    return f'W/"{base64.b64encode(digest).decode()}"'


def relationship_entity(tenant):
    rel = tenant.gdap
    started = rel.status not in NOT_STARTED
    entity = {
        "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
        "@odata.etag": _etag(rel.id, rel.status, rel.endDateTime, rel.autoExtendDuration),
        "id": rel.id,
        "displayName": rel.displayName,
        "duration": rel.duration,
        "status": rel.status,
        "autoExtendDuration": rel.autoExtendDuration,
        "createdDateTime": rel.createdDateTime,
        "activatedDateTime": rel.activatedDateTime if started else None,
        "lastModifiedDateTime": rel.activatedDateTime or rel.createdDateTime,
        "endDateTime": rel.endDateTime if started else None,
        "customer": {"tenantId": tenant.id, "displayName": tenant.company_name},
        "accessDetails": {"unifiedRoles": _roles(rel.roles)},
    }
    if rel.indirect_provider_tenant_id:
        entity["@odata.type"] = "#microsoft.graph.resellerDelegatedAdminRelationship"
        entity["indirectProviderTenantId"] = rel.indirect_provider_tenant_id
        entity["isPartnerConsentPending"] = False
    return entity


def _roles(roles):
    return [r if isinstance(r, dict) else {"roleDefinitionId": r} for r in roles]


def _relationship_tenant(ctx, relationship_id):
    for tenant in ctx.sb.world.tenants.values():
        if tenant.gdap is not None and tenant.gdap.id == relationship_id:
            return tenant
    raise ctx.fail(
        404,
        "ResourceNotFound",
        f"The delegated admin relationship with id '{relationship_id}' was not found.",
    )


@graph_handler
def list_relationships(ctx):
    require_partner(ctx)
    clauses = parse_filter(ctx, "DelegatedAdminRelationship", RELATIONSHIPS_FILTERABLE)
    entities = [relationship_entity(t) for t in ctx.sb.world.tenants.values() if t.gdap is not None]
    entities = [e for e in entities if matches(e, clauses)]
    size = page_size(ctx, GDAP_PAGE, GDAP_PAGE, strict=False)
    context = ctx.context("tenantRelationships/delegatedAdminRelationships")
    return paged(ctx, context, entities, size, lambda e: e)


@graph_handler
def get_relationship(ctx, relationship_id):
    require_partner(ctx)
    tenant = _relationship_tenant(ctx, relationship_id)
    body = {
        "@odata.context": ctx.context("tenantRelationships/delegatedAdminRelationships/$entity")
    }
    body.update(relationship_entity(tenant))
    return json_response(body)


@graph_handler
def relationship_access_assignments(ctx, relationship_id):
    require_partner(ctx)
    rel = _relationship_tenant(ctx, relationship_id).gdap
    value = [
        {
            "@odata.type": "#microsoft.graph.delegatedAdminAccessAssignment",
            "@odata.etag": _etag(assignment["id"], assignment.get("status", "active")),
            "id": assignment["id"],
            "status": assignment.get("status", "active"),
            "createdDateTime": rel.activatedDateTime or rel.createdDateTime,
            "lastModifiedDateTime": rel.activatedDateTime or rel.createdDateTime,
            "accessContainer": {
                "accessContainerId": assignment.get("securityGroupId"),
                "accessContainerType": "securityGroup",
            },
            "accessDetails": {"unifiedRoles": _roles(assignment.get("roles", []))},
        }
        for assignment in rel.access_assignments
    ]
    context = ctx.context(
        f"tenantRelationships/delegatedAdminRelationships('{rel.id}')/accessAssignments"
    )
    return json_response({"@odata.context": context, "value": value})
