# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from . import maintenance_equipment
from . import csp_device_category_rule
from . import csp_device_binding
from . import csp_connection
from . import csp_tenant
from . import csp_sync_run
from . import res_partner
from . import display_names
from . import csp_portal_devices
