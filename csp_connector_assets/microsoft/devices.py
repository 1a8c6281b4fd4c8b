# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Intune's managed devices in Microsoft Graph, through the core's Graph client: the list
(the core's paged read, proven complete by its ``ReadCheck``) and one device at a
time."""

from urllib.parse import quote

from odoo.addons.csp_connector.microsoft import errors

MANAGED_DEVICES = "v1.0/deviceManagement/managedDevices"


def managed_devices(graph, select=None, page_size=None, count=False):
    """Pages of the tenant's Intune managed devices (shape-checked pages).
    ``count``: Intune states the total in ``@odata.count`` (ReadCheck's proof that the
    pages held every device)."""
    params = {}
    if select:
        params["$select"] = select
    if page_size:
        params["$top"] = page_size
    if count:
        params["$count"] = "true"
    return graph.iter_pages(MANAGED_DEVICES, params=params or None)


def managed_device(graph, device_id):
    """One managed device (its id only), or None when Intune no longer has it (404)."""
    try:
        return graph.get(f"{MANAGED_DEVICES}/{quote(device_id)}", params={"$select": "id"})
    except errors.MicrosoftError as exc:
        if exc.status == 404:
            return None
        raise
