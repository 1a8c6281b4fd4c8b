# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The tenants of a connection (discovery) on the binding base's routine.

A csp.tenant is no binding (csp.binding.mixin): it is the scope of the bindings. But
it is created, updated and archived as they are, by the same routine
(importers/binding.py, BindingImporter), through the hooks that say its scope and
state its own way: its Microsoft id is ``tenant_id`` (unique per connection), its
scope the connection, and gone from discovery it is archived (``active``), never
deleted; back, it is active again. It has no fingerprint: its few values are compared.
"""

from .binding import BindingImporter, Planned


class TenantImporter(BindingImporter):
    """Creates, updates and archives the tenants of `connection`."""

    key_field = "tenant_id"
    restore = {"active": True}

    def __init__(self, model, connection):
        super().__init__(model, connection)  # the scope is the connection
        self.connection = connection

    def plan(self, found):
        """A discovered tenant (sync.tenants.DiscoveredTenant) as a Planned object."""
        values = {
            "name": found.name,
            "relationship": found.relationship,
            "gdap_status": found.gdap_status or False,
            "gdap_end": found.gdap_end.date() if found.gdap_end else False,
            "gdap_auto_extend": found.gdap_auto_extend,
            "gdap_relationship_id": found.gdap_relationship_id or False,
        }
        if found.domain:  # a GDAP-only tenant keeps the domain it had
            values["default_domain"] = found.domain
        return Planned(found.tenant_id, values)

    # -- the binding routine's hooks: a tenant's scope and state --------------------------

    def _existing(self, microsoft_ids=None):
        domain = self._scope_domain()
        if microsoft_ids is not None:
            domain.append(("tenant_id", "in", list(microsoft_ids)))
        return {tenant.tenant_id: tenant for tenant in self.model.search(domain)}

    def _scope_domain(self):
        return [("connection_id", "=", self.connection.id)]

    def _scope_values(self):
        return {"connection_id": self.connection.id}

    def _removed(self, tenant):
        return not tenant.active

    def _live_domain(self):
        return [("active", "=", True)]

    def _archive(self, tenants):
        """Gone from discovery: archived (its bindings and history stay)."""
        tenants.write({"active": False})
        self.counters["deactivated"] += len(tenants)
        return bool(tenants)
