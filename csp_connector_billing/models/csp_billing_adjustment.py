# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Pro-rata adjustments: one record per billed change, each invoiced once through a
one-shot line of the customer's contract (OCA contract invoices a line whose end date is
reached once, then stops)."""

import datetime as dt
from decimal import Decimal

from odoo import fields, models
from odoo.tools import float_repr

from ..billing.prorata import TimeSource

TIME_SOURCES = [
    (TimeSource.AUDIT_RECORD.value, "Partner Center audit record"),
    (TimeSource.SEEN.value, "When the sync saw it"),
    (TimeSource.SUBSCRIPTION.value, "The subscription's start"),
]


def price_field(string, help_text):
    """A price per seat and period kept as it was used (read-only)."""
    return fields.Float(string=string, digits="Product Price", readonly=True, help=help_text)


class CspBillingAdjustment(models.Model):
    _name = "csp.billing.adjustment"
    _description = "Microsoft Pro-rata Adjustment"
    _order = "changed_at, id"

    key = fields.Char(required=True, readonly=True, index=True)
    subscription_id = fields.Many2one(
        "csp.subscription", required=True, readonly=True, ondelete="cascade", index=True
    )
    partner_id = fields.Many2one(related="subscription_id.partner_id", store=True)
    company_id = fields.Many2one(related="subscription_id.company_id", store=True, index=True)
    contract_line_id = fields.Many2one(
        "contract.line", string="Invoice Line", readonly=True, ondelete="set null",
        help="The one-shot contract line that puts this adjustment on the next invoice.",
    )  # fmt: skip
    name = fields.Char(string="Description", readonly=True)
    charge_type = fields.Char(readonly=True)
    quantity = fields.Integer(readonly=True)
    period_start = fields.Date(readonly=True)
    period_end = fields.Date(readonly=True)
    billing_days = fields.Integer(readonly=True)
    cycle_days = fields.Integer(readonly=True)
    changed_at = fields.Datetime(string="Changed", readonly=True)
    time_source = fields.Selection(TIME_SOURCES, string="Time From", readonly=True)
    rounding = fields.Char(readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    cost_amount = fields.Monetary(
        string="Microsoft Cost", readonly=True,
        help="What Microsoft charges for this change (signed; credits negative); for the "
        "first days of a subscription bought mid-period, its cost per seat for those days.",
    )  # fmt: skip
    amount = fields.Monetary(
        string="Customer Amount", readonly=True,
        help="The same days and rounding at your unit price on the contract line.",
    )  # fmt: skip
    unit_cost = price_field(
        "Unit Cost Used",
        "Microsoft's cost per seat and period this adjustment was computed with (the "
        "subscription's Microsoft Cost then); the reconciliation compares with it.",
    )
    unit_price = price_field(
        "Unit Price Used",
        "Your price per seat and period (the contract line's) it was computed with.",
    )
    change_id = fields.Many2one(
        "csp.subscription.change", string="Subscription Change", readonly=True,
        ondelete="set null", index=True,
        help="The change in the subscription's history this adjustment bills.",
    )  # fmt: skip
    customer_only = fields.Boolean(
        string="Customer's Days Only", readonly=True,
        help="A later charge cycle's days of a seat change or a refund that the customer's "
        "contract line had already invoiced at the old quantity. Microsoft bills that cycle "
        "itself at the new quantity, so no cost here and not part of the reconciliation.",
    )  # fmt: skip

    _sql_constraints = [
        ("key_unique", "unique(key)", "Each change of a subscription is billed once."),
    ]


def to_decimal(value, digits):
    return Decimal(float_repr(value or 0.0, digits))


def utc(value):
    return value.replace(tzinfo=dt.UTC) if value and value.tzinfo is None else value
