# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..sync import filters
from ..sync import users as user_rules

AZURE_FIELDS = [(name, name) for name in user_rules.USER_PROPERTIES]
SITE_FIELDS = [
    ("name", "Name"),
    ("city", "City"),
    ("street", "Street"),
    ("zip", "ZIP"),
    ("ref", "Reference"),
    ("email", "Email"),
]


VALUE_TYPES = ("char", "text", "boolean", "integer", "selection")


def check_contact_field(field, types):
    """The domain of a contact-field choice, enforced on the server, on the field as
    the code declares it too: a field kept to some groups in Python (``groups=``, which
    ``ir.model.fields`` does not show), read-only or computed without an inverse there,
    is not for syncs."""
    declared = field.env["res.partner"]._fields.get(field.name) if field else None
    if field and not (
        field.model == "res.partner"
        and field.store
        and not field.readonly
        and field.ttype in types
        and not field.groups  # fields kept to some groups are not for syncs
        and declared is not None
        and not declared.groups
        and not declared.readonly
        and (not declared.compute or declared.inverse)
    ):
        raise ValidationError(
            field.env._(
                "%(field)s cannot be filled from Microsoft: choose a stored, editable "
                "contact field of type %(types)s.",
                field=field.display_name,
                types=", ".join(types),
            )
        )


class CspSiteMapping(models.Model):
    """Where a connection's Azure users go: the first mapping (by sequence) that
    accepts a user decides its site."""

    _name = "csp.site.mapping"
    _description = "Microsoft CSP User Site Mapping"
    _order = "sequence, id"

    connection_id = fields.Many2one("csp.connection", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="connection_id.company_id", store=True)
    sequence = fields.Integer(default=10, help="Lower first: put the most specific first.")
    description = fields.Char()
    kind = fields.Selection(
        [
            (user_rules.KIND_SITE, "Map to an existing site"),
            (user_rules.KIND_FIELD_SITES, "One site per value of an Azure field"),
            (user_rules.KIND_SKIP, "Do not import"),
            (user_rules.KIND_MATCH, "Match a site by field"),
        ],
        required=True,
        default=user_rules.KIND_SITE,
    )
    tenant_ids = fields.Many2many(
        "csp.tenant",
        domain="[('connection_id', '=', connection_id)]",
        help="Only users of these tenants. Empty: every tenant of the connection.",
    )
    customer_id = fields.Many2one("res.partner", domain="[('is_company', '=', True)]")
    site_id = fields.Many2one(
        "res.partner",
        domain="['|', ('id', '=', customer_id), ('parent_id', '=', customer_id)]",
    )
    azure_field = fields.Selection(AZURE_FIELDS)
    site_field = fields.Selection(SITE_FIELDS, help="Field of the customer's sites to compare.")
    default_site_id = fields.Many2one(
        "res.partner",
        domain="['|', ('id', '=', customer_id), ('parent_id', '=', customer_id)]",
        help="Site for users whose value matches no site; empty: skip them.",
    )
    group_ids = fields.Many2many(
        "csp.azure.group",
        string="Azure Groups",
        help="Only members of one of these groups.",
    )
    filter_ids = fields.One2many("csp.site.mapping.filter", "mapping_id", string="Filters")
    include_external = fields.Boolean(
        string="Include External Users", help="Guests (#EXT#) are left out unless ticked."
    )
    value_ids = fields.One2many("csp.site.mapping.value", "mapping_id", string="Set Values")
    tag_ids = fields.Many2many("res.partner.category", string="Role (tags)")
    grant_portal = fields.Boolean(string="Grant Portal Access")

    @api.depends("kind", "customer_id", "site_id", "azure_field", "site_field", "description")
    def _compute_display_name(self):
        site_fields = dict(SITE_FIELDS)
        for mapping in self:
            mapping.display_name = user_rules.mapping_title(
                mapping.kind,
                customer=mapping.customer_id.name or mapping.connection_id.name,
                azure_field=mapping.azure_field,
                site_field=site_fields.get(mapping.site_field, mapping.site_field),
                site=mapping.site_id.display_name,
                description=mapping.description,
            )

    @api.constrains("kind", "customer_id", "site_id", "azure_field", "site_field")
    def _check_kind(self):
        for mapping in self:
            if mapping.kind == user_rules.KIND_SKIP:
                continue
            if not mapping.customer_id:
                raise ValidationError(self.env._("Choose the customer of the mapping."))
            if (
                mapping.kind == user_rules.KIND_SITE
                and mapping.site_id
                and (
                    mapping.site_id.commercial_partner_id
                    != mapping.customer_id.commercial_partner_id
                )
            ):
                raise ValidationError(self.env._("The site must belong to the customer."))
            if mapping.kind in (user_rules.KIND_FIELD_SITES, user_rules.KIND_MATCH) and (
                not mapping.azure_field
            ):
                raise ValidationError(self.env._("Choose the Azure field to read."))
            if mapping.kind == user_rules.KIND_MATCH and not mapping.site_field:
                raise ValidationError(self.env._("Choose the site field to compare with."))

    @api.constrains("customer_id", "site_id", "default_site_id")
    def _check_partners(self):
        """The form's domains, enforced: a company customer, its own sites, and never a
        contact of an Odoo user or one of the database's companies."""
        partners = self.customer_id | self.site_id | self.default_site_id
        protected = self.env["res.partner"]._csp_protected_ids(partners.ids)
        for mapping in self:
            customer = mapping.customer_id.sudo()
            foreign = customer.company_id not in (mapping.company_id, customer.company_id.browse())
            if customer and (not customer.is_company or customer.id in protected or foreign):
                raise ValidationError(
                    self.env._(
                        "%s cannot be the customer of a user mapping: choose a company "
                        "contact of the connection's company (or shared) that is not one of "
                        "this database's own companies.",
                        customer.display_name,
                    )
                )
            for site in (mapping.site_id | mapping.default_site_id).sudo():
                if site.id in protected or customer not in (site, site.parent_id):
                    raise ValidationError(
                        self.env._(
                            "%s cannot be a site of this mapping: choose the customer or "
                            "one of its own addresses (not an Odoo user's contact).",
                            site.display_name,
                        )
                    )

    def _csp_rule(self):
        """The plain-Python SiteMapping the planner uses."""
        self.ensure_one()
        return user_rules.SiteMapping(
            id=self.id,
            sequence=self.sequence,
            kind=self.kind,
            tenant_ids=frozenset(self.tenant_ids.mapped("tenant_id")),
            customer_id=self.customer_id.id or None,
            site_id=self.site_id.id or None,
            azure_field=self.azure_field or None,
            site_field=self.site_field or None,
            default_site_id=self.default_site_id.id or None,
            group_ids=frozenset(self.group_ids.mapped("microsoft_id")),
            filters=tuple(
                filters.PropertyFilter(f.azure_field, f.operator, f.value or "")
                for f in self.filter_ids
            ),
            include_external=self.include_external,
            values=tuple(
                user_rules.ValueMapping(
                    v.field_name, v._csp_value(), v.group_id.microsoft_id or None
                )
                for v in self.value_ids
            ),
            tag_ids=tuple(self.tag_ids.ids),
            portal=self.grant_portal,
        )

    def _csp_sites_by_value(self):
        """KIND_MATCH: {lower-cased site field value: site id} among the customer's sites."""
        self.ensure_one()
        sites = self.env["res.partner"].search(
            [
                "|",
                ("id", "=", self.customer_id.id),
                ("parent_id", "=", self.customer_id.id),
            ]
        )
        found = {}
        for site in sites:
            value = site[self.site_field]
            if isinstance(value, models.BaseModel):
                value = value.display_name
            if value:
                found.setdefault(str(value).strip().lower(), site.id)
        return found


class CspSiteMappingFilter(models.Model):
    _name = "csp.site.mapping.filter"
    _description = "Microsoft CSP Site Mapping Property Filter"

    mapping_id = fields.Many2one("csp.site.mapping", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="mapping_id.company_id", store=True)
    azure_field = fields.Selection(AZURE_FIELDS, required=True)
    operator = fields.Selection(
        [
            ("equals", "equals"),
            ("not_equals", "does not equal"),
            ("contains", "contains"),
            ("starts_with", "starts with"),
            ("is_set", "is set"),
            ("is_not_set", "is not set"),
        ],
        required=True,
        default="equals",
    )
    value = fields.Char()

    @api.depends("azure_field", "operator", "value")
    def _compute_display_name(self):
        operators = dict(self._fields["operator"]._description_selection(self.env))
        for rule in self:
            shown = "" if rule.operator in ("is_set", "is_not_set") else f" {rule.value or ''}"
            rule.display_name = (
                f"{rule.azure_field or '?'} {operators.get(rule.operator, '')}{shown}".strip()
            )


class CspSiteMappingValue(models.Model):
    _name = "csp.site.mapping.value"
    _description = "Microsoft CSP Site Mapping Value"

    mapping_id = fields.Many2one("csp.site.mapping", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="mapping_id.company_id", store=True)
    field_id = fields.Many2one(
        "ir.model.fields",
        string="Contact Field",
        required=True,
        ondelete="cascade",
        domain="[('model', '=', 'res.partner'), ('store', '=', True), ('readonly', '=', False),"
        f" ('ttype', 'in', {VALUE_TYPES})]",
    )
    field_name = fields.Char(related="field_id.name")
    value = fields.Char(help="For a checkbox: 1 or 0.")
    group_id = fields.Many2one(
        "csp.azure.group", string="Only for Group", help="Empty: every user of the mapping."
    )

    @api.depends("field_id", "value", "group_id")
    def _compute_display_name(self):
        for record in self:
            shown = f"{record.field_id.field_description or '?'} = {record.value or ''}".strip()
            if record.group_id:
                shown += self.env._(" (members of %s)", record.group_id.name)
            record.display_name = shown

    @api.constrains("field_id")
    def _check_field(self):
        for value in self:
            check_contact_field(value.field_id, VALUE_TYPES)

    def _csp_value(self):
        ttype = self.field_id.ttype
        if ttype == "boolean":
            return (self.value or "").strip().lower() in ("1", "true", "yes")
        if ttype == "integer":
            return int(self.value or 0)
        return self.value or False
