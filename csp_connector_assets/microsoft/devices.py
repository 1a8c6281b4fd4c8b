# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Intune's managed devices in Microsoft Graph, one at a time (the list is read with the
core client's paged read)."""

from urllib.parse import quote

from odoo.addons.csp_connector.microsoft import errors

MANAGED_DEVICES = "v1.0/deviceManagement/managedDevices"


def managed_device(graph, device_id):
    """One managed device (its id only), or None when Intune no longer has it (404)."""
    try:
        return graph.get(f"{MANAGED_DEVICES}/{quote(device_id)}", params={"$select": "id"})
    except errors.MicrosoftError as exc:
        if exc.status == 404:
            return None
        raise
