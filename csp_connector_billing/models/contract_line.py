# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import api, fields, models

from ..billing import wording


class ContractLine(models.Model):
    _inherit = "contract.line"

    csp_subscription_id = fields.Many2one(
        "csp.subscription", string="Microsoft Subscription", index=True, ondelete="set null",
        copy=False, readonly=True,
        help="The subscription this line invoices; the billing step keeps its quantity.",
    )  # fmt: skip
    csp_billed_since = fields.Datetime(
        string="Microsoft Changes Billed Since", readonly=True, copy=False,
        help="The subscription's changes after this moment are billed as pro-rata "
        "adjustments; those before it were already part of the line.",
    )  # fmt: skip
    # computed without a related path: the core's tests rebuild csp.subscription with
    # odoo-test-helper, without this add-on's fields
    csp_cost_price = fields.Float(
        string="Microsoft Cost", compute="_compute_csp_cost_price", digits="Product Price"
    )

    csp_check_reason = fields.Text(
        string="To Check", readonly=True, copy=False,
        help="Why an accountant should check this Microsoft line before posting its "
        "invoice (set by the billing step on a change's line); copied to the invoice line.",
    )  # fmt: skip

    def _compute_csp_cost_price(self):
        for line in self:
            subscription = line.csp_subscription_id
            line.csp_cost_price = subscription.cost_price if subscription else 0.0

    @api.depends("csp_subscription_id")
    def _compute_display_name(self):
        """A Microsoft line is named by its plan, without its period markers."""
        result = super()._compute_display_name()
        for line in self.filtered("csp_subscription_id"):
            plan = (line.name or "").replace(f"\n{wording.PERIOD_MARKERS}", "")
            line.display_name = f"{line.date_start} - {plan}"
        return result

    def _insert_markers(self, first_date_invoiced, last_date_invoiced):
        """A Microsoft line's service period in the customer's language ("1-31 Dec 2026"),
        OCA's own rules for any other marker or line."""
        name = super()._insert_markers(first_date_invoiced, last_date_invoiced)
        if not self.csp_subscription_id or wording.PERIOD_MARKERS not in (self.name or ""):
            return name
        period = wording.period(
            first_date_invoiced, last_date_invoiced, self.contract_id.partner_id.lang
        )
        ours = self.name.replace(wording.PERIOD_MARKERS, period)
        return name if "#" in ours else ours

    def _prepare_invoice_line(self):
        """OCA contract's invoice line, with why it should be checked: a change's reason
        as the billing step stored it; a recurring Microsoft line without a price."""
        values = super()._prepare_invoice_line()
        reason = self.csp_check_reason
        if not reason and self.csp_subscription_id:
            reason = "\n".join(wording.check_reasons(self.price_unit))
        if reason:
            values["csp_check_reason"] = reason
        if self.csp_subscription_id:
            # the period the line sells (the billed reconciliation's month of the sale)
            start = self._get_period_to_invoice(self.last_date_invoiced, self.recurring_next_date)[
                0
            ]
            values["csp_period_start"] = start
        return values

    _sql_constraints = [
        (
            "csp_subscription_unique",
            "unique(csp_subscription_id)",
            "A Microsoft subscription is invoiced by one contract line only.",
        )
    ]
