# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Microsoft CSP Connector",
    "summary": "Connect Odoo to Microsoft Partner Center and customer tenants (GDAP)",
    "version": "18.0.1.0.0",
    "category": "Services",
    "website": "https://github.com/odoo-microsoft-csp/microsoft-csp",
    "author": "Microsoft CSP for Odoo contributors",
    "license": "LGPL-3",
    "development_status": "Alpha",
    "depends": ["base", "mail", "contacts", "auth_oauth", "auth_oidc"],
    "external_dependencies": {"python": ["msal", "requests"]},
    "data": [
        "security/csp_security.xml",
        "security/ir.model.access.csv",
        "data/csp_integrator_user.xml",
        "data/ir_cron.xml",
        "views/csp_connection_views.xml",
        "views/csp_tenant_views.xml",
        "views/csp_sync_run_views.xml",
        "views/csp_request_log_views.xml",
        "views/csp_user_views.xml",
        "views/csp_connection_sso_views.xml",
        "views/menus.xml",
    ],
    "application": True,
}
