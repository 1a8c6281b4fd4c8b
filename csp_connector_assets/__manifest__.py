# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Microsoft CSP Assets",
    "summary": "Import Intune managed devices as maintenance equipment",
    "version": "18.0.1.0.0",
    "category": "Services",
    "website": "https://github.com/odoo-microsoft-csp/microsoft-csp",
    "author": "Microsoft CSP for Odoo contributors",
    "license": "LGPL-3",
    "development_status": "Alpha",
    "depends": ["csp_connector", "maintenance"],
    "data": [
        "security/csp_assets_security.xml",
        "security/ir.model.access.csv",
        "views/menus.xml",
    ],
}
