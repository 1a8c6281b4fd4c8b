# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

from odoo.addons.csp_connector.models.csp_sync_step import CspStep

from ..sync import devices as rules
from .csp_device_category_rule import DEVICE_FIELDS
from .maintenance_equipment import STATUSES

USER_FIELDS = [
    ("userPrincipalName", "User principal name (the user's UPN)"),
    ("emailAddress", "E-mail address (the user's e-mail)"),
    ("userId", "User id (the user's Azure object id)"),
]


class CspConnection(models.Model):
    _inherit = "csp.connection"

    sync_assets = fields.Boolean(
        string="Import Intune Devices",
        default=True,
        help="The scheduled runs and 'Sync now' import each tenant's Intune devices.",
    )
    asset_category_mode = fields.Selection(
        [
            (rules.CATEGORY_SINGLE, "One category for all devices"),
            (rules.CATEGORY_FIELD, "Category from an Intune field"),
            (rules.CATEGORY_RULES, "Rules"),
        ],
        string="Equipment Category",
        default=rules.CATEGORY_SINGLE,
        required=True,
    )
    asset_category_id = fields.Many2one(
        "maintenance.equipment.category",
        string="Category",
        help="One category: every device gets it. From a field: devices whose field is "
        "empty get it.",
    )
    asset_category_field = fields.Selection(
        DEVICE_FIELDS,
        string="Intune Field",
        default="operatingSystem",
        help="Each value becomes a category of that name (created when missing).",
    )
    asset_rule_ids = fields.One2many(
        "csp.device.category.rule", "connection_id", string="Category Rules"
    )
    asset_unmatched = fields.Selection(
        [("fallback", "Fallback category"), ("exclude", "Do not import them")],
        string="Devices No Rule Matches",
        default="fallback",
        required=True,
    )
    asset_fallback_category_id = fields.Many2one(
        "maintenance.equipment.category", string="Fallback Category"
    )
    asset_keep_category = fields.Boolean(
        string="Keep the Category of Existing Equipment",
        help="Equipment that already has a category keeps it (useful when another tool "
        "classifies your assets and Intune only adds its details).",
    )
    asset_user_field = fields.Selection(
        USER_FIELDS,
        string="User Identifier",
        default="userPrincipalName",
        required=True,
        help="The device field that finds the device's user among the imported contacts.",
    )
    asset_mobile_user_field = fields.Selection(
        USER_FIELDS,
        string="User Identifier for Mobile Devices",
        help="Used instead for iOS, iPadOS and Android devices, when set.",
    )
    asset_site_mode = fields.Selection(
        [
            (rules.SITE_ALL, "The user's site, for all devices"),
            (rules.SITE_NEW, "The user's site, for new devices only"),
            (rules.SITE_NEVER, "Never the user's site"),
        ],
        string="Site Allocation",
        default=rules.SITE_ALL,
        required=True,
    )
    asset_default_site = fields.Char(
        string="Default Site",
        help="Site (under the tenant's customer, created when missing) of devices without "
        "a user. Empty: the customer itself.",
    )
    asset_match_field = fields.Selection(
        [(rules.MATCH_SERIAL, "Serial number"), (rules.MATCH_ENTRA, "Entra device id")],
        string="Matching Field",
        default=rules.MATCH_SERIAL,
        required=True,
        help="Existing equipment of the tenant's customer (its customer, or a site of it "
        "set by hand) with the same value is bound and updated instead of duplicated. "
        "Placeholder serial numbers never match.",
    )
    asset_adopt_unowned = fields.Boolean(
        string="Adopt Unowned Equipment",
        help="Also bind equipment that belongs to nobody (no customer, site, tenant or "
        "owner) when its serial number or Entra device id matches a device. Off: only the "
        "customer's own equipment is matched; your own and other customers' never are.",
    )
    asset_new_status = fields.Selection(
        STATUSES, string="Status of New Devices", default="in_use", required=True
    )
    asset_gone_status = fields.Selection(
        STATUSES,
        string="Status When Gone from Intune",
        default="missing",
        required=True,
        help="Equipment is never deleted; a device that comes back gets its status back.",
    )
    asset_exclude_defender = fields.Boolean(
        string="Exclude Devices Managed by Defender Only",
        default=True,
        help="Devices whose management agent is Microsoft Defender for Endpoint (msSense) "
        "are not imported.",
    )

    @api.model
    def _csp_sync_steps(self):
        return [
            *super()._csp_sync_steps(),
            CspStep("assets", self.env._("Assets"), "tenant", 40, "_csp_sync_assets"),
        ]

    def _csp_permissions(self):
        return [
            *super()._csp_permissions(),
            (
                self.env._("Intune devices"),
                ["DeviceManagementManagedDevices.Read.All"],
                [],
            ),
        ]

    def _csp_device_settings(self):
        """The connection's device settings as plain data (sync/devices.py)."""
        self.ensure_one()
        return rules.Settings(
            match_field=self.asset_match_field,
            user_field=self.asset_user_field,
            mobile_user_field=self.asset_mobile_user_field or None,
            category_mode=self.asset_category_mode,
            category_id=self.asset_category_id.id or None,
            category_field=self.asset_category_field or "operatingSystem",
            rules=tuple(rule._csp_rule() for rule in self.asset_rule_ids),
            unmatched=self.asset_unmatched,
            fallback_category_id=self.asset_fallback_category_id.id or None,
            exclude_defender=self.asset_exclude_defender,
        )

    def action_import_devices(self):
        """Ask which tenant and site to import (all by default); the import is queued."""
        self.ensure_one()
        return self.env["csp.device.import"]._csp_open(self)
