# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Microsoft CSP Assets",
    "summary": "Import Intune managed devices as maintenance equipment",
    "version": "18.0.2.1.0",
    "category": "Services",
    "website": "https://github.com/odoo-microsoft-csp/microsoft-csp",
    "author": "Microsoft CSP for Odoo contributors",
    "license": "LGPL-3",
    "development_status": "Alpha",
    "depends": ["csp_connector", "maintenance"],
    "data": [
        "security/csp_assets_security.xml",
        "security/ir.model.access.csv",
        "security/csp_assets_portal_security.xml",
        "data/csp_integrator_user.xml",
        "views/maintenance_equipment_views.xml",
        "views/res_partner_views.xml",
        "views/csp_connection_views.xml",
        "views/csp_tenant_views.xml",
        "views/csp_device_import_views.xml",
        "views/menus.xml",
        "views/csp_portal_templates.xml",
    ],
}
