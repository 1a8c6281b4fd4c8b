# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Product names of licence SKUs: Microsoft's published list ships with the add-on
(data/csp.sku.name.csv), people add the SKUs it does not know yet."""

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..sync.licences import SkuNames
from ..sync.tenants import is_guid


class CspSkuName(models.Model):
    _name = "csp.sku.name"
    _description = "Microsoft Licence SKU Name"
    _order = "name, part_number"

    name = fields.Char(string="Product Name", required=True)
    sku_id = fields.Char(string="SKU Id", required=True, index=True, help="Graph skuId (a GUID).")
    part_number = fields.Char(help="Graph skuPartNumber, e.g. O365_BUSINESS_ESSENTIALS.")
    active = fields.Boolean(default=True)

    _sql_constraints = [
        ("sku_id_unique", "unique(sku_id)", "A SKU id can only be named once."),
    ]

    @api.constrains("sku_id")
    def _check_sku_id(self):
        for record in self:
            if not is_guid(record.sku_id):
                raise ValidationError(
                    self.env._(
                        "%(value)s is not a SKU id: Microsoft's SKU ids are GUIDs such as "
                        "3b555118-da6a-4418-894f-7df1e2096870 (shown on a licence as 'SKU Id').",
                        value=record.sku_id,
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("sku_id"):
                vals["sku_id"] = vals["sku_id"].strip().lower()
        records = super().create(vals_list)
        records._csp_rename_licences()
        return records

    def write(self, vals):
        if vals.get("sku_id"):
            vals["sku_id"] = vals["sku_id"].strip().lower()
        result = super().write(vals)
        if {"name", "sku_id", "part_number", "active"} & set(vals):
            self._csp_rename_licences()
        return result

    @api.model
    def _csp_names(self):
        """The lookup the licence step names SKUs with (active names only)."""
        rows = self.sudo().search_read([("active", "=", True)], ["sku_id", "part_number", "name"])
        return SkuNames.from_rows((r["sku_id"], r["part_number"], r["name"]) for r in rows)

    def unlink(self):
        skus = self._csp_licences()
        result = super().unlink()
        skus._csp_rename(self._csp_names())
        return result

    def _csp_licences(self):
        """The imported licences these names may apply to (by SKU id or part number)."""
        parts = [p for p in self.mapped("part_number") if p]
        domain = [("sku_id", "in", self.mapped("sku_id"))]
        if parts:
            domain = ["|", *domain, ("part_number", "in", parts)]
        return self.env["csp.subscribed.sku"].sudo().search(domain)

    def _csp_rename_licences(self):
        """Licences already imported take a new or changed name at once."""
        self._csp_licences()._csp_rename(self._csp_names())
