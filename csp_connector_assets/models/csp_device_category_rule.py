# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import ValidationError

from odoo.addons.csp_connector.sync import filters

from ..sync import devices as rules

DEVICE_FIELDS = [
    ("operatingSystem", "Operating system"),
    ("osVersion", "OS version"),
    ("model", "Model"),
    ("manufacturer", "Manufacturer"),
    ("deviceName", "Device name"),
    ("managedDeviceOwnerType", "Ownership"),
    ("managementAgent", "Management agent"),
    ("complianceState", "Compliance state"),
    ("deviceEnrollmentType", "Enrolment type"),
    ("userPrincipalName", "User principal name"),
    ("emailAddress", "E-mail address"),
    ("serialNumber", "Serial number"),
    ("imei", "IMEI"),
]
OPERATORS = [
    ("equals", "is"),
    ("not_equals", "is not"),
    ("contains", "contains"),
    ("starts_with", "starts with"),
    ("is_set", "is set"),
    ("is_not_set", "is not set"),
]


class CspDeviceCategoryRule(models.Model):
    """Devices whose fields meet every condition get this category (first rule by
    sequence wins)."""

    _name = "csp.device.category.rule"
    _description = "Microsoft CSP Device Category Rule"
    _order = "sequence, id"

    connection_id = fields.Many2one("csp.connection", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="connection_id.company_id", store=True)
    sequence = fields.Integer(default=10)
    category_id = fields.Many2one(
        "maintenance.equipment.category", required=True, ondelete="cascade"
    )
    condition_ids = fields.One2many(
        "csp.device.category.condition", "rule_id", string="Conditions", copy=True
    )

    @api.depends("category_id", "condition_ids")
    def _compute_display_name(self):
        for rule in self:
            tests = " and ".join(c.display_name for c in rule.condition_ids) or "-"
            rule.display_name = f"{tests} → {rule.category_id.name or ''}"

    def _csp_rule(self):
        return rules.CategoryRule(
            conditions=tuple(c._csp_condition() for c in self.condition_ids),
            category_id=self.category_id.id,
        )


class CspDeviceCategoryCondition(models.Model):
    _name = "csp.device.category.condition"
    _description = "Microsoft CSP Device Category Condition"
    _order = "id"

    rule_id = fields.Many2one(
        "csp.device.category.rule", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="rule_id.company_id", store=True)
    field_name = fields.Selection(DEVICE_FIELDS, string="Device Field", required=True)
    operator = fields.Selection(OPERATORS, required=True, default="equals")
    value = fields.Char()

    @api.constrains("operator", "value")
    def _check_value(self):
        for condition in self:
            if filters.needs_value(condition.operator) and not condition.value:
                raise ValidationError(
                    self.env._("A condition that compares needs a value to compare with.")
                )

    @api.depends("field_name", "operator", "value")
    def _compute_display_name(self):
        fields_ = dict(DEVICE_FIELDS)
        operators = dict(OPERATORS)
        for condition in self:
            condition.display_name = " ".join(
                part
                for part in (
                    fields_.get(condition.field_name, ""),
                    operators.get(condition.operator, ""),
                    condition.value or "",
                )
                if part
            )

    def _csp_condition(self):
        return rules.Condition(self.field_name, self.operator, self.value or "")
