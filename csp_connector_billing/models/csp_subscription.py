# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A subscription's product, cost and contract line."""

from odoo import fields, models

from odoo.addons.csp_connector.models.csp_guard import code_env
from odoo.addons.csp_connector.models.csp_subscription import SUBSCRIPTION_CODE_FIELDS

from ..billing import lines as line_rules
from ..billing import prorata
from . import csp_billing_adjustment as adjustment_rules

TIME_NOTE = {
    prorata.TimeSource.AUDIT_RECORD: "dated by Partner Center's audit record",
    prorata.TimeSource.SEEN: "dated when the sync saw the change",
}


class CspSubscription(models.Model):
    _inherit = "csp.subscription"
    _csp_code_fields = (*SUBSCRIPTION_CODE_FIELDS, "product_id", "contract_line_id")

    product_id = fields.Many2one(
        "product.product", readonly=True, index=True, ondelete="set null",
        help="The product of this subscription's offer (internal reference = offer id).",
    )  # fmt: skip
    product_tmpl_id = fields.Many2one(
        "product.template", related="product_id.product_tmpl_id", store=True, index=True
    )
    contract_line_id = fields.Many2one(
        "contract.line", readonly=True, ondelete="set null", copy=False
    )
    billing_adjustment_ids = fields.One2many(
        "csp.billing.adjustment", "subscription_id", string="Pro-rata Adjustments"
    )
    cost_price = fields.Float(
        string="Microsoft Cost",
        digits="Product Price",
        help="What Microsoft charges per seat and billing period; the cost of the contract "
        "line and of pro-rata adjustments until the price sheet fills it.",
    )

    def _csp_link_product(self):
        """Find or create the offer's product and link it; True when the link changed."""
        self.ensure_one()
        if not self.offer_id:
            return False
        Product = self.env["product.product"].with_context(active_test=False)
        product = Product.search([("default_code", "=", self.offer_id)], limit=1)
        if not product:
            product = Product.create(
                {
                    "name": self.offer_name or self.friendly_name or self.offer_id,
                    "default_code": self.offer_id,
                    "type": "service",
                    "uom_id": self.env.ref("uom.product_uom_unit").id,
                    "uom_po_id": self.env.ref("uom.product_uom_unit").id,
                    "sale_ok": True,
                    "purchase_ok": True,
                }
            )
        if self.product_id == product:
            return False
        code_env(self).write({"product_id": product.id})
        return True

    def _csp_line_quantities(self):
        """{subscription id: the contract line's quantity} as the connection says."""
        quantities = {}
        for subscription in self:
            basis = subscription.connection_id.billing_quantity_basis
            if basis != line_rules.ASSIGNED or not subscription.subscribed_sku_id:
                quantities[subscription.id] = subscription.quantity
                continue
            sku = subscription.subscribed_sku_id
            siblings = self.search([("subscribed_sku_id", "=", sku.id), ("removed", "=", False)])
            shares = line_rules.assigned_shares(
                sku.consumed_units, [(s.id, s.quantity) for s in siblings]
            )
            quantities[subscription.id] = shares.get(subscription.id, 0)
        return quantities

    def _csp_contract_for(self):
        """The customer's newest active sale contract matching the billing cycle."""
        partner = self.partner_id.commercial_partner_id
        if not partner:
            return self.env["contract.contract"]
        today = fields.Date.context_today(self)
        contracts = self.env["contract.contract"].search(
            [
                ("commercial_partner_id", "=", partner.id),
                ("contract_type", "=", "sale"),
                ("company_id", "=", self.company_id.id or self.env.company.id),
                "|", ("date_end", "=", False), ("date_end", ">=", today),
            ]
        )  # fmt: skip
        chosen = line_rules.pick_contract(
            [
                {
                    "id": c.id,
                    "date_start": c.date_start,
                    "recurring_rule_type": c.recurring_rule_type,
                    "recurring_interval": c.recurring_interval,
                }
                for c in contracts
                if not c.line_recurrence
            ],
            self.billing_cycle,
        )
        return self.env["contract.contract"].browse(chosen["id"] if chosen else [])

    def _csp_sync_contract_line(self, quantity):
        """Create or update this subscription's contract line. Returns "created",
        "updated", None (nothing to do) or "missing" (no matching contract)."""
        self.ensure_one()
        line = self.contract_line_id
        if line and line.exists():
            values = {}
            if line.quantity != quantity:
                values["quantity"] = quantity
            if line.product_id != self.product_id and self.product_id:
                values["product_id"] = self.product_id.id
            if values:
                line.write(values)
                return "updated"
            return None
        line = self.env["contract.line"].search([("csp_subscription_id", "=", self.id)], limit=1)
        if not line:
            contract = self._csp_contract_for()
            if not contract:
                return "missing"
            line = self.env["contract.line"].create(
                {
                    "contract_id": contract.id,
                    "product_id": self.product_id.id,
                    "name": self.friendly_name or self.offer_name or self.offer_id,
                    "quantity": quantity,
                    "uom_id": self.env.ref("uom.product_uom_unit").id,
                    "price_unit": 0.0,
                    "csp_subscription_id": self.id,
                    "date_start": contract.recurring_next_date or contract.date_start,
                    "recurring_next_date": contract.recurring_next_date,
                }
            )
            code_env(self).write({"contract_line_id": line.id})
            return "created"
        code_env(self).write({"contract_line_id": line.id})
        return self._csp_sync_contract_line(quantity) or "updated"

    def _csp_sync_adjustments(self):
        """Bill the changes seen since this subscription's contract line was made: one
        adjustment per pro-rata line (stable key: never twice), each on a one-shot line of
        the same contract, invoiced once with the contract's next invoice. Returns the
        number of adjustments added."""
        self.ensure_one()
        line = self.contract_line_id
        if not line or not self.start_date or not line.recurring_next_date:
            return 0
        opening_quantity, changes = adjustment_rules.history(self, line.create_date)
        if not changes:
            return 0
        Adjustment = self.env["csp.billing.adjustment"]
        known = set(Adjustment.search([("subscription_id", "=", self.id)]).mapped("key"))
        contract = line.contract_id
        currency = contract.currency_id or contract.company_id.currency_id
        settings = prorata.Settings(currency.decimal_places, self.connection_id.billing_rounding)
        subscription = prorata.Subscription(
            self.microsoft_id, line.product_id.name or self.friendly_name,
            self.billing_cycle, adjustment_rules.utc(self.start_date),
        )  # fmt: skip

        def bill(price):
            opening = prorata.Opening(
                opening_quantity,
                adjustment_rules.to_decimal(price, currency.decimal_places),
                adjustment_rules.utc(self.start_date),
            )
            return prorata.bill_changes(subscription, changes, settings, opening)

        added = 0
        for cost, charge in zip(bill(self.cost_price), bill(line.price_unit), strict=True):
            if cost.key in known:
                continue
            one_shot = self.env["contract.line"].create(
                {
                    "contract_id": contract.id,
                    "product_id": line.product_id.id,
                    "name": f"{charge.description} ({TIME_NOTE[charge.time_source]})",
                    "quantity": 1,
                    "uom_id": line.uom_id.id,
                    "price_unit": float(charge.amount),
                    "date_start": line.next_period_date_start,
                    "date_end": line.next_period_date_start,
                    "recurring_next_date": line.recurring_next_date,
                }
            )
            Adjustment.create(
                {
                    "key": cost.key,
                    "subscription_id": self.id,
                    "contract_line_id": one_shot.id,
                    "name": charge.description,
                    "charge_type": cost.charge_type,
                    "quantity": cost.quantity,
                    "period_start": cost.period_start,
                    "period_end": cost.period_end,
                    "billing_days": cost.billing_days,
                    "cycle_days": cost.cycle_days,
                    "changed_at": cost.changed_at.replace(tzinfo=None),
                    "time_source": str(cost.time_source),
                    "rounding": str(cost.rounding),
                    "currency_id": currency.id,
                    "cost_amount": float(cost.amount),
                    "amount": float(charge.amount),
                }
            )
            added += 1
        return added
