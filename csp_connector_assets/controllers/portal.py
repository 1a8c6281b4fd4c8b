# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The customer portal's Intune devices (/my/microsoft/devices). Thin: the search runs as
the portal user, so the record rules decide which devices are shown."""

from odoo import http
from odoo.http import request

from odoo.addons.csp_connector.controllers.portal import PAGE, CspCustomerPortal
from odoo.addons.portal.controllers.portal import pager as portal_pager

DEVICES = [("csp_customer_id", "!=", False)]


class CspAssetsCustomerPortal(CspCustomerPortal):
    @http.route(
        ["/my/microsoft/devices", "/my/microsoft/devices/page/<int:page>"],
        type="http", auth="user", website=True,
    )  # fmt: skip
    def csp_portal_devices(self, page=1, sortby=None, search=None, search_in="name", **kw):
        self._csp_check_portal()
        Equipment = request.env["maintenance.equipment"]
        sortings = {
            "name": {"label": request.env._("Name"), "order": "name"},
            "last_sync": {"label": request.env._("Last check-in"), "order": "csp_last_sync desc"},
            "compliance": {"label": request.env._("Compliance"), "order": "csp_compliance"},
        }
        sortby = sortby if sortby in sortings else "name"
        domain = list(DEVICES)
        if search:
            domain += ["|", ("name", "ilike", search), ("csp_contact_id.name", "ilike", search)]
        total = Equipment.search_count(domain) if Equipment.has_access("read") else 0
        pager = portal_pager(
            url="/my/microsoft/devices", total=total, page=page, step=PAGE,
            url_args={"sortby": sortby, "search": search or ""},
        )  # fmt: skip
        devices = (
            Equipment.search(
                domain, order=sortings[sortby]["order"], limit=PAGE, offset=pager["offset"]
            )
            if total
            else Equipment
        )
        values = self._csp_values(
            "csp_devices",
            devices=devices,
            pager=pager,
            default_url="/my/microsoft/devices",
            searchbar_sortings=sortings,
            sortby=sortby,
            searchbar_inputs={"name": {"input": "name", "label": request.env._("Name")}},
            search_in=search_in,
            search=search or "",
        )
        return request.render("csp_connector_assets.portal_my_microsoft_devices", values)
