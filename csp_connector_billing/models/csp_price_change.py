# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A subscription's price change: Microsoft's cost and list price before and after, the
date it takes effect, and what it did to the contract line (under the price policy).
Next month's changes (from the future sheet) are *upcoming*: the list an MSP reads to
tell customers before the invoice."""

from markupsafe import Markup

from odoo import api, fields, models

from ..billing import prices as price_rules
from .csp_subscription_change import price_field

POLICIES = [
    (price_rules.KEEP, "Keep the line's price"),
    (price_rules.MARGIN, "Keep the margin %"),
    (price_rules.LIST, "Follow the list price"),
]
STATES = [
    ("upcoming", "Upcoming"),
    ("waiting", "Waiting for the next period"),
    ("done", "Applied"),
]


class CspPriceChange(models.Model):
    _name = "csp.price.change"
    _description = "Microsoft Price Change"
    _order = "effective_date desc, partner_id, id"

    subscription_id = fields.Many2one(
        "csp.subscription", required=True, readonly=True, index=True, ondelete="cascade"
    )
    connection_id = fields.Many2one(
        "csp.connection", related="subscription_id.connection_id", store=True, index=True
    )
    company_id = fields.Many2one(
        "res.company", related="subscription_id.connection_id.company_id", store=True,
        index=True,
    )  # fmt: skip
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True, index=True)
    contract_line_id = fields.Many2one("contract.line", readonly=True, ondelete="set null")
    contract_id = fields.Many2one(
        "contract.contract", related="contract_line_id.contract_id", store=True
    )
    effective_date = fields.Date(required=True, readonly=True, index=True)
    state = fields.Selection(STATES, required=True, readonly=True, index=True)
    policy = fields.Selection(POLICIES, string="Price Policy", readonly=True)
    quantity = fields.Float(readonly=True, digits="Product Unit of Measure")
    old_cost = price_field("Old Microsoft Cost", "Microsoft's cost per seat before.")
    new_cost = price_field("New Microsoft Cost", "Microsoft's cost per seat from the date.")
    old_list = price_field("Old List Price", "Microsoft's list (ERP) price before.")
    new_list = price_field("New List Price", "Microsoft's list (ERP) price from the date.")
    old_line_price = price_field("Old Unit Price", "The contract line's price before.")
    new_line_price = price_field(
        "New Unit Price", "The contract line's price from its next period (policy)."
    )
    cost_effect = fields.Float(
        string="Cost Change per Period", digits="Product Price", readonly=True,
        compute="_compute_effects", store=True,
        help="(new cost - old cost) x seats: what Microsoft charges more (or less).",
    )  # fmt: skip
    sale_effect = fields.Float(
        string="Customer Price Change per Period", digits="Product Price", readonly=True,
        compute="_compute_effects", store=True,
        help="(new unit price - old unit price) x seats: what the customer pays more.",
    )  # fmt: skip
    reason = fields.Text(readonly=True)

    @api.depends("new_cost", "old_cost", "new_line_price", "old_line_price", "quantity")
    def _compute_effects(self):
        for change in self:
            change.cost_effect = (change.new_cost - change.old_cost) * change.quantity
            change.sale_effect = (change.new_line_price - change.old_line_price) * change.quantity

    def _csp_apply_to_line(self):
        """Put each waiting change on its contract line when the line's next period to
        invoice has reached its date (never a period already invoiced); the contract's
        chatter says old and new price and why. Returns the lines changed."""
        changed = self.env["contract.line"]
        waiting = self.filtered(lambda c: c.state == "waiting")
        # oldest first: a later price wins over an earlier one on the same line
        for change in waiting.sorted(lambda c: (c.effective_date, c.id)):
            line = change.subscription_id.contract_line_id
            if not line:
                change.write({"state": "done", "reason": self.env._("No contract line.")})
                continue
            if not price_rules.line_due(change.effective_date, line.next_period_date_start):
                continue  # its period is not the next one to invoice yet
            policy = change.subscription_id._csp_price_policy()
            old = line.price_unit
            new, why = price_rules.line_price(
                policy, old, change.old_cost, change.new_cost, change.new_list
            )
            reason = change._csp_reason(why)
            change.write(
                {"state": "done", "policy": policy, "contract_line_id": line.id,
                 "old_line_price": old, "new_line_price": float(new), "reason": reason}
            )  # fmt: skip
            if price_rules.to_cents(old) != new:
                line.write({"price_unit": float(new)})
                changed |= line
            change._csp_note(line, old, float(new), reason)
        return changed

    def _csp_reason(self, why):
        self.ensure_one()
        cost = self.env._(
            "Microsoft's cost per seat went from %(old)s to %(new)s (list price %(list)s) "
            "on %(date)s",
            old=f"{self.old_cost:.2f}", new=f"{self.new_cost:.2f}",
            list=f"{self.new_list:.2f}", date=self.effective_date,
        )  # fmt: skip
        words = {
            "keep": self.env._("the price policy keeps the line's price"),
            "margin": self.env._("the price policy keeps the margin %"),
            "no_cost": self.env._(
                "the price policy keeps the margin %, but the old cost was unknown: the "
                "line keeps its price"
            ),
            "list": self.env._("the price policy follows Microsoft's list price"),
        }
        return f"{cost}: {words[why]}."

    def _csp_note(self, line, old, new, reason):
        """The contract's chatter: old and new unit price and the reason (escaped)."""
        subscription = self.subscription_id
        name = subscription.friendly_name or subscription.offer_name or subscription.microsoft_id
        body = Markup("<p>%s</p>") % self.env._(
            "Price of %(line)s (%(subscription)s): %(old)s → %(new)s from the period "
            "starting %(start)s. %(reason)s",
            line=(line.name or "").split("\n")[0],
            subscription=name,
            old=f"{old:.2f}",
            new=f"{new:.2f}",
            start=line.next_period_date_start or self.effective_date,
            reason=reason,
        )
        line.contract_id.sudo().message_post(body=body, subtype_xmlid="mail.mt_note")
