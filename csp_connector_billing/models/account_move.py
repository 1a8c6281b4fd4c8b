# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Microsoft lines an accountant should check before posting their invoice."""

from odoo import api, fields, models


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    csp_check_reason = fields.Text(
        string="To Check (Microsoft)", readonly=True, copy=False,
        help="Why this Microsoft line should be checked before the invoice is posted: "
        "no sales price, a Microsoft cost of 0, or a change recorded late.",
    )  # fmt: skip
    csp_period_start = fields.Date(
        string="Microsoft Period", readonly=True, copy=False,
        help="The first day of the period this Microsoft subscription line sells: the "
        "month the reconciliation with Microsoft's invoice compares it in.",
    )  # fmt: skip
    csp_reconcile_key = fields.Char(
        string="Microsoft Charge", readonly=True, copy=False,
        help="What of Microsoft's invoice this line sells, for lines not from a "
        "subscription's contract line: \"azure\" for the customer's Azure consumption of "
        "the month of its Microsoft Period, or a subscription id.",
    )  # fmt: skip


class AccountMove(models.Model):
    _inherit = "account.move"

    csp_to_check = fields.Boolean(
        string="Microsoft Lines to Check", compute="_compute_csp_to_check", store=True,
        help="A Microsoft line of this invoice should be checked before it is posted.",
    )  # fmt: skip
    csp_check_summary = fields.Text(
        string="Microsoft Lines to Check (Reasons)", compute="_compute_csp_check_summary"
    )

    @api.depends("invoice_line_ids.csp_check_reason")
    def _compute_csp_to_check(self):
        for move in self:
            move.csp_to_check = bool(move.invoice_line_ids.filtered("csp_check_reason"))

    @api.depends("invoice_line_ids.csp_check_reason", "invoice_line_ids.name")
    def _compute_csp_check_summary(self):
        for move in self:
            flagged = move.invoice_line_ids.filtered("csp_check_reason")
            move.csp_check_summary = "\n".join(
                f"{(line.name or '').replace(chr(10), ', ')}: {line.csp_check_reason}"
                for line in flagged
            )
