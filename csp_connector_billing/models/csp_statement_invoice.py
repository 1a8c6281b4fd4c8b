# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The monthly licence statement (the core's csp.licence.statement) with the month's
invoice e-mail, when the MSP turns it on for the connection."""

import datetime as dt

from odoo import api, fields, models

from odoo.addons.csp_connector.sync import statement as statement_rules


class CspConnection(models.Model):
    _inherit = "csp.connection"

    statement_on_invoice = fields.Boolean(
        string="Licence Statement With Invoices",
        help="Attach last month's licence statement to the customers' invoice e-mails "
        "(made then if the scheduled action has not made it yet).",
    )


class AccountMoveSend(models.AbstractModel):
    _inherit = "account.move.send"

    @api.model
    def _get_invoice_extra_attachments(self, move):
        attachments = super()._get_invoice_extra_attachments(move)
        statement = self._csp_statement_for(move)
        return attachments | statement.attachment_id if statement else attachments

    @api.model
    def _csp_statement_for(self, move):
        """The licence statement of the month before ``move``'s date, for a customer
        invoice of a customer whose connection attaches them; else an empty recordset."""
        Statement = self.env["csp.licence.statement"].sudo()
        if move.move_type != "out_invoice":
            return Statement
        customer = move.partner_id.commercial_partner_id
        tenants = self.env["csp.tenant"].sudo().search([("partner_id", "=", customer.id)])
        if not tenants.connection_id.filtered("statement_on_invoice"):
            return Statement
        day = move.invoice_date or fields.Date.context_today(move)
        month = statement_rules.previous_month(day if isinstance(day, dt.date) else day.date())
        statement = Statement.search([("customer_id", "=", customer.id), ("month", "=", month)])
        return statement or Statement._csp_generate(customer, month)
