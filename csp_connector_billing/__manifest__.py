# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
{
    "name": "Microsoft CSP Billing",
    "summary": "Recurring invoices with pro-rata from Microsoft CSP subscriptions",
    "version": "18.0.2.0.0",
    "category": "Accounting",
    "website": "https://github.com/odoo-microsoft-csp/microsoft-csp",
    "author": "Microsoft CSP for Odoo contributors",
    "license": "AGPL-3",
    "development_status": "Alpha",
    "depends": ["csp_connector", "contract"],
    "data": [
        "security/csp_billing_security.xml",
        "security/ir.model.access.csv",
        "views/billing_views.xml",
        "views/reconciliation_views.xml",
        "views/reconciliation_report.xml",
        "views/create_contracts_views.xml",
        "views/account_move_views.xml",
        "views/price_views.xml",
        "views/azure_views.xml",
        "views/menus.xml",
        "data/ir_cron.xml",
    ],
}
