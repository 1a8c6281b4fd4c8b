# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class CspConnection(models.Model):
    """One MSP partner tenant connected to Partner Center and Microsoft Graph."""

    _name = "csp.connection"
    _description = "Microsoft CSP Connection"
    _inherit = ["mail.thread"]
    _order = "name, id"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        help="Every record this connection imports belongs to this company.",
    )
    partner_tenant_id = fields.Char(
        string="Partner Tenant ID",
        tracking=True,
        help="The Microsoft Entra tenant id (a GUID) of your CSP partner tenant.",
    )

    _sql_constraints = [
        (
            "partner_tenant_company_unique",
            "unique(partner_tenant_id, company_id)",
            "This partner tenant is already connected for this company.",
        ),
    ]
