# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

STATUSES = [
    ("in_use", "In use"),
    ("in_stock", "In stock"),
    ("repair", "In repair"),
    ("missing", "Gone from Intune"),
    ("retired", "Retired"),
]
COMPLIANCE = [
    ("compliant", "Compliant"),
    ("noncompliant", "Not compliant"),
    ("inGracePeriod", "In grace period"),
    ("conflict", "Conflict"),
    ("error", "Error"),
    ("configManager", "Configuration Manager"),
    ("unknown", "Unknown"),
]
OWNERSHIP = [("company", "Corporate"), ("personal", "Personal"), ("unknown", "Unknown")]


class MaintenanceEquipment(models.Model):
    """Equipment that may stand for an Intune managed device (see csp.device.binding).

    What Intune reports is written by the device import only (csp.code.guard); the
    status, user and site may be changed by hand."""

    _name = "maintenance.equipment"
    _inherit = ["maintenance.equipment", "csp.code.guard"]

    csp_tenant_id = fields.Many2one(
        "csp.tenant", string="Microsoft Tenant", readonly=True, index="btree_not_null",
        ondelete="set null",
        help="Set on equipment bound to an Intune managed device of this tenant.",
    )  # fmt: skip
    csp_customer_id = fields.Many2one(
        "res.partner", string="Customer", readonly=True, index="btree_not_null"
    )
    csp_contact_id = fields.Many2one(
        "res.partner", string="User", index="btree_not_null",
        help="The contact of the device's user (matched on import).",
    )  # fmt: skip
    csp_site_id = fields.Many2one("res.partner", string="Site", index="btree_not_null")
    csp_status = fields.Selection(STATUSES, string="Status", index="btree_not_null")
    csp_serial_number = fields.Char(
        string="Intune Serial Number",
        readonly=True,
        help="As Intune reports it, placeholders included (those never fill the Serial "
        "Number and never match other equipment).",
    )
    csp_manufacturer = fields.Char(string="Manufacturer", readonly=True)
    csp_os = fields.Char(string="Operating System", readonly=True)
    csp_os_version = fields.Char(string="OS Version", readonly=True)
    csp_compliance = fields.Selection(COMPLIANCE, string="Compliance", readonly=True)
    csp_last_sync = fields.Datetime(string="Last Intune Check-in", readonly=True)
    csp_enrolled = fields.Datetime(string="Enrolled On", readonly=True)
    csp_ownership = fields.Selection(OWNERSHIP, string="Ownership", readonly=True)
    csp_management_agent = fields.Char(string="Management Agent", readonly=True)
    csp_intune_id = fields.Char(string="Intune Device ID", readonly=True, copy=False)
    csp_entra_device_id = fields.Char(
        string="Entra Device ID", readonly=True, copy=False, index="btree_not_null"
    )
    csp_binding_ids = fields.One2many("csp.device.binding", "equipment_id", readonly=True)

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {
            "csp_tenant_id", "csp_customer_id", "csp_serial_number", "csp_manufacturer",
            "csp_os", "csp_os_version", "csp_compliance", "csp_last_sync", "csp_enrolled",
            "csp_ownership", "csp_management_agent", "csp_intune_id", "csp_entra_device_id",
        }  # fmt: skip

    def init(self):
        # the device import finds equipment by serial number or Entra device id
        # whatever their case (see importers/devices.py, DeviceImporter.match_existing)
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS maintenance_equipment_csp_serial_upper_index"
            " ON maintenance_equipment (upper(serial_no)) WHERE serial_no IS NOT NULL"
        )
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS maintenance_equipment_csp_entra_lower_index"
            " ON maintenance_equipment (lower(csp_entra_device_id))"
            " WHERE csp_entra_device_id IS NOT NULL"
        )
