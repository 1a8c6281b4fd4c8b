"""Which customer tenants a connection sees, from Partner Center and GDAP.

"GDAP and DAP" connections merge Partner Center customers (reseller relationships)
with Graph's delegated admin relationships; "GDAP only" connections use the
relationships alone. A customer may have several GDAP relationships (an old expired
one and its replacement): the most useful one describes the tenant.
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from ..microsoft.dates import parse_datetime

_logger = logging.getLogger(__name__)

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

MODE_GDAP_AND_DAP = "gdap_dap"
MODE_GDAP_ONLY = "gdap_only"

# lower is better when a customer has several relationships
_STATUS_RANK = {
    "active": 0,
    "activating": 1,
    "approved": 1,
    "approvalPending": 2,
    "created": 3,
    "terminationRequested": 4,
    "terminating": 4,
    "expired": 5,
    "terminated": 6,
}


@dataclass(frozen=True)
class DiscoveredTenant:
    tenant_id: str
    name: str
    domain: str | None
    relationship: str  # reseller, gdap, both
    gdap_status: str | None = None
    gdap_end: datetime | None = None
    gdap_auto_extend: bool = False
    gdap_relationship_id: str | None = None


def is_guid(value):
    return isinstance(value, str) and bool(_GUID.match(value.strip()))


def best_relationships(relationships, refused=None):
    """{customer tenant id: the relationship that best describes access to it}.
    A relationship whose customer tenant id is not a GUID is left out (and said so in
    ``refused``)."""
    refused = [] if refused is None else refused
    best = {}
    for rel in relationships:
        tenant_id = ((rel.get("customer") or {}).get("tenantId") or "").strip().lower()
        if not tenant_id:
            continue
        if not is_guid(tenant_id):
            refused.append(
                f"GDAP relationship {rel.get('id')!r} names the customer tenant "
                f"{tenant_id!r}, which is not a tenant id (a GUID): it was left out."
            )
            continue
        key = (_STATUS_RANK.get(rel.get("status"), 9), -_timestamp(rel.get("endDateTime")))
        if tenant_id not in best or key < best[tenant_id][0]:
            best[tenant_id] = (key, rel)
    return {tenant_id: rel for tenant_id, (_key, rel) in best.items()}


def _timestamp(value):
    parsed = parse_datetime(value)
    return parsed.timestamp() if parsed else 0


def customer_key(customer):
    """(tenant id, None) for a Partner Center customer, or (None, why it was refused).

    Customers are keyed on Partner Center's customer id (the customer's tenant id),
    cross-checked with the company profile's tenant id: an id that is not a GUID, or
    two ids that disagree, are refused rather than guessed (a guess could merge two
    customers into one tenant)."""
    customer_id = (customer.get("id") or "").strip().lower()
    profile = customer.get("companyProfile") or {}
    profile_tenant = (profile.get("tenantId") or "").strip().lower()
    name = profile.get("companyName") or customer_id or "?"
    if not is_guid(customer_id):
        return None, (
            f"Partner Center customer {name!r} has the id {customer_id!r}, which is not a "
            "tenant id (a GUID): it was left out."
        )
    if profile_tenant and profile_tenant != customer_id:
        return None, (
            f"Partner Center customer {name!r} has the id {customer_id} but its company "
            f"profile names the tenant {profile_tenant}: it was left out rather than "
            "guessed. Check the customer in Partner Center."
        )
    return customer_id, None


def merge(customers, relationships, mode=MODE_GDAP_AND_DAP, refused=None):
    """The tenants of a connection, ordered by name. What could not be used is
    explained in ``refused`` (a list the caller passes), never silently merged."""
    refused = [] if refused is None else refused
    gdap = best_relationships(relationships, refused)
    found = {}
    if mode == MODE_GDAP_AND_DAP:
        for customer in customers:
            profile = customer.get("companyProfile") or {}
            tenant_id, why = customer_key(customer)
            if why:
                refused.append(why)
                continue
            if tenant_id in found:
                refused.append(
                    f"Partner Center listed the customer {tenant_id} twice: the second "
                    f"entry ({profile.get('companyName')!r}) was left out."
                )
                continue
            found[tenant_id] = {
                "name": profile.get("companyName") or tenant_id,
                "domain": profile.get("domain"),
                "reseller": True,
            }
    for tenant_id, rel in gdap.items():
        entry = found.setdefault(
            tenant_id,
            {
                "name": (rel.get("customer") or {}).get("displayName") or tenant_id,
                "domain": None,
                "reseller": False,
            },
        )
        entry["gdap"] = rel
    tenants = []
    for tenant_id, entry in found.items():
        rel = entry.get("gdap")
        relationship = (
            "both" if entry["reseller"] and rel else ("reseller" if entry["reseller"] else "gdap")
        )
        tenants.append(
            DiscoveredTenant(
                tenant_id=tenant_id,
                name=entry["name"],
                domain=entry["domain"],
                relationship=relationship,
                gdap_status=rel.get("status") if rel else None,
                gdap_end=parse_datetime(rel.get("endDateTime")) if rel else None,
                gdap_auto_extend=bool(rel) and rel.get("autoExtendDuration") not in (None, "PT0S"),
                gdap_relationship_id=rel.get("id") if rel else None,
            )
        )
    return sorted(tenants, key=lambda t: (t.name.lower(), t.tenant_id))


# statuses in which a relationship still gives access (Graph says "expiring" near the end)
LIVE_STATUSES = ("active", "expiring")


def ends_soon(status, end, auto_extend, now, days=30):
    """Whether a live GDAP relationship ends within `days` and will not extend by itself."""
    return (
        status in LIVE_STATUSES
        and end is not None
        and not auto_extend
        and (end - now).total_seconds() <= days * 86400
    )
