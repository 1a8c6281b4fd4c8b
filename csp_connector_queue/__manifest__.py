# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Microsoft CSP Job Queue",
    "summary": "Sync every tenant's steps as OCA queue_job jobs, in parallel across workers "
    "and servers",
    "version": "18.0.1.0.0",
    "category": "Services",
    "website": "https://github.com/odoo-microsoft-csp/microsoft-csp",
    "author": "Microsoft CSP for Odoo contributors",
    "license": "LGPL-3",
    "development_status": "Alpha",
    "depends": ["csp_connector", "queue_job"],
    "data": [
        "data/queue_job_data.xml",
        "views/csp_connection_views.xml",
        "views/csp_sync_run_views.xml",
    ],
}
