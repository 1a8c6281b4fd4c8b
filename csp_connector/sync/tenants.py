"""Which customer tenants a connection sees, from Partner Center and GDAP.

"GDAP and DAP" connections merge Partner Center customers (reseller relationships)
with Graph's delegated admin relationships; "GDAP only" connections use the
relationships alone. A customer may have several GDAP relationships (an old expired
one and its replacement): the most useful one describes the tenant.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

_FRACTION = re.compile(r"(?<=\.)(\d+)")  # Python wants at most 6 digits

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


def parse_datetime(value):
    """Microsoft's ISO 8601 timestamps ("2026-01-31T10:00:00Z", 7-digit fractions)."""
    if not value:
        return None
    value = _FRACTION.sub(lambda m: m.group(1)[:6], value.replace("Z", "+00:00"))
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def best_relationships(relationships):
    """{customer tenant id: the relationship that best describes access to it}."""
    best = {}
    for rel in relationships:
        tenant_id = ((rel.get("customer") or {}).get("tenantId") or "").lower()
        if not tenant_id:
            continue
        key = (_STATUS_RANK.get(rel.get("status"), 9), -_timestamp(rel.get("endDateTime")))
        if tenant_id not in best or key < best[tenant_id][0]:
            best[tenant_id] = (key, rel)
    return {tenant_id: rel for tenant_id, (_key, rel) in best.items()}


def _timestamp(value):
    parsed = parse_datetime(value)
    return parsed.timestamp() if parsed else 0


def merge(customers, relationships, mode=MODE_GDAP_AND_DAP):
    """The tenants of a connection, ordered by name."""
    gdap = best_relationships(relationships)
    found = {}
    if mode == MODE_GDAP_AND_DAP:
        for customer in customers:
            profile = customer.get("companyProfile") or {}
            tenant_id = (profile.get("tenantId") or customer.get("id") or "").lower()
            if tenant_id:
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
