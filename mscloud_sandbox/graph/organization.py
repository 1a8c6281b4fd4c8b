"""``/organization``: the tenant's name, country and verified domains."""

from ..errors import json_response
from .handler import graph_handler


@graph_handler
def organization(ctx):
    tenant = ctx.tenant
    domains = list(dict.fromkeys([*tenant.domains, tenant.default_domain]))
    org = {
        "id": tenant.id,
        "displayName": tenant.company_name,
        "countryLetterCode": tenant.country,
        "tenantType": "AAD",
        "verifiedDomains": [
            {
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": name == tenant.default_domain,
                "isInitial": name.endswith(".onmicrosoft.com"),
                "name": name,
                "type": "Managed",
            }
            for name in domains
        ],
    }
    return json_response({"@odata.context": ctx.context("organization"), "value": [org]})
