# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

from ..microsoft import words
from .csp_site_mapping import AZURE_FIELDS, check_contact_field

FIELD_TYPES = ("char", "text", "many2one", "selection")

# Azure property -> contact field, created with every new connection. Address fields
# are left out on purpose: in Odoo a contact shares the address of its site (the
# parent), which is where site mappings put each user.
DEFAULT_FIELD_MAPPINGS = (
    ("displayName", "name"),
    ("mail", "email"),
    ("jobTitle", "function"),
    ("mobilePhone", "mobile"),
    ("businessPhones", "phone"),
)


class CspFieldMapping(models.Model):
    """Azure user property -> contact field, per connection."""

    _name = "csp.field.mapping"
    _description = "Microsoft CSP User Field Mapping"
    _order = "connection_id, id"

    connection_id = fields.Many2one("csp.connection", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="connection_id.company_id", store=True)
    azure_field = fields.Selection(AZURE_FIELDS, required=True)
    field_id = fields.Many2one(
        "ir.model.fields",
        string="Contact Field",
        required=True,
        ondelete="cascade",
        domain="[('model', '=', 'res.partner'), ('store', '=', True), ('readonly', '=', False),"
        f" ('ttype', 'in', {FIELD_TYPES})]",
    )
    field_name = fields.Char(related="field_id.name")

    _sql_constraints = [
        (
            "field_unique",
            "unique(connection_id, field_id)",
            "Each contact field is filled by one Azure property only.",
        ),
    ]

    @api.depends("azure_field", "field_id")
    def _compute_display_name(self):
        for mapping in self:
            mapping.display_name = words.arrow(
                mapping.azure_field, mapping.field_id.field_description
            )

    @api.constrains("field_id")
    def _check_field(self):
        for mapping in self:
            check_contact_field(mapping.field_id, FIELD_TYPES)

    @api.model
    def _csp_create_defaults(self, connections):
        fields_by_name = {
            f.name: f
            for f in self.env["ir.model.fields"].sudo().search(
                [("model", "=", "res.partner"),
                 ("name", "in", [odoo for _azure, odoo in DEFAULT_FIELD_MAPPINGS])]
            )
        }  # fmt: skip
        self.create(
            [
                {"connection_id": c.id, "azure_field": azure, "field_id": fields_by_name[odoo].id}
                for c in connections
                for azure, odoo in DEFAULT_FIELD_MAPPINGS
                if odoo in fields_by_name
            ]
        )

    @api.model
    def _csp_converters(self, field_names):
        """Value converters for relational contact fields (country by name or code)."""
        converters = {}
        partner_fields = self.env["res.partner"]._fields
        if "country_id" in field_names:
            countries = self.env["res.country"].search_read(
                [("code", "!=", False)], ["name", "code"]
            )
            by_key = {}
            for country in countries:
                by_key[country["code"].lower()] = country["id"]
                by_key[country["name"].lower()] = country["id"]

            def country(raw):
                text = (raw or "").strip().lower() if isinstance(raw, str) else ""
                return by_key.get(text, False)

            converters["country_id"] = country
        for name in field_names:
            if name not in converters and partner_fields[name].type == "many2one":
                converters[name] = lambda raw: False  # unsupported relation: leave empty
        return converters
