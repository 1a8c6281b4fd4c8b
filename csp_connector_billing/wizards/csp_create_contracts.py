# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""'Create contracts': the template and the first invoice date, then
csp.connection._csp_create_contracts."""

from odoo import api, fields, models

from ..billing import contracts as contract_rules
from ..models.csp_create_contracts import check_contract_rights


class CspCreateContracts(models.TransientModel):
    _name = "csp.create.contracts"
    _description = "Create the contracts of Microsoft customers"

    connection_id = fields.Many2one("csp.connection", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="connection_id.company_id", store=True)
    tenant_id = fields.Many2one(
        "csp.tenant",
        ondelete="cascade",
        help="Only this tenant's customer; empty: every mapped customer of the connection.",
    )
    partner_id = fields.Many2one(related="tenant_id.partner_id", string="Customer")
    template_id = fields.Many2one(
        "contract.template",
        string="Contract Template",
        domain="[('contract_type', '=', 'sale'), ('company_id', 'in', [company_id, False])]",
        compute="_compute_template_id",
        store=True,
        readonly=False,
        help="Its journal, pricelist and invoicing type (pre-paid or post-paid) go to the "
        "new contracts; its recurrence and lines do not.",
    )
    date_start = fields.Date(
        string="Start and First Invoice",
        required=True,
        default=lambda self: contract_rules.first_of_next_month(fields.Date.context_today(self)),
        help="The contracts start on this date and are first invoiced then (pre-paid).",
    )

    @api.depends("connection_id", "partner_id")
    def _compute_display_name(self):
        for wizard in self:
            wizard.display_name = self.env._(
                "Create contracts: %s",
                wizard.partner_id.name or wizard.connection_id.name or "",
            )

    @api.model
    def _csp_open(self, context):
        return self.env["ir.actions.act_window"]._csp_window(
            self._name, target="new", name=self.env._("Create contracts"), context=context
        )

    @api.depends("connection_id")
    def _compute_template_id(self):
        for wizard in self:
            wizard.template_id = wizard.connection_id.sudo().billing_contract_template_id

    def action_create(self):
        self.ensure_one()
        check_contract_rights(self.env)
        partners = self.tenant_id.partner_id if self.tenant_id else None
        created = self.connection_id._csp_create_contracts(
            partners=partners, template=self.template_id, start=self.date_start
        )
        if not created:
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "title": self.env._("Nothing to create"),
                    "message": self.env._(
                        "Every billable subscription of %(who)s already finds a contract.",
                        who=self.partner_id.display_name or self.env._("the mapped customers"),
                    ),
                    "type": "info",
                    "next": {"type": "ir.actions.act_window_close"},
                },
            }
        return self.env["ir.actions.act_window"]._csp_window(
            "contract.contract",
            view_mode="list,form",
            name=self.env._("Contracts created"),
            domain=[("id", "in", created.ids)],
            context={"default_contract_type": "sale"},
        )
