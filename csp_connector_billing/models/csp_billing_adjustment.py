# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Pro-rata adjustments: one record per billed change, each invoiced once through a
one-shot line of the customer's contract (OCA contract invoices a line whose end date is
reached once, then stops)."""

import datetime as dt
from decimal import Decimal

from odoo import fields, models
from odoo.tools import float_repr

from ..billing import prorata
from ..billing.prorata import TimeSource

TIME_SOURCES = [
    (TimeSource.AUDIT_RECORD.value, "Partner Center audit record"),
    (TimeSource.SEEN.value, "When the sync saw it"),
]


class CspBillingAdjustment(models.Model):
    _name = "csp.billing.adjustment"
    _description = "Microsoft Pro-rata Adjustment"
    _order = "changed_at, id"

    key = fields.Char(required=True, readonly=True, index=True)
    subscription_id = fields.Many2one(
        "csp.subscription", required=True, readonly=True, ondelete="cascade", index=True
    )
    partner_id = fields.Many2one(related="subscription_id.partner_id", store=True)
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
        help="What Microsoft charges for this change (signed; credits negative).",
    )  # fmt: skip
    amount = fields.Monetary(
        string="Customer Amount", readonly=True,
        help="The same days and rounding at your unit price on the contract line.",
    )  # fmt: skip

    _sql_constraints = [
        ("key_unique", "unique(key)", "Each change of a subscription is billed once."),
    ]


def to_decimal(value, digits):
    return Decimal(float_repr(value or 0.0, digits))


def utc(value):
    return value.replace(tzinfo=dt.UTC) if value and value.tzinfo is None else value


def history(subscription, since):
    """(opening, changes) of ``subscription`` seen after ``since`` (a naive UTC datetime):
    its quantity and status changes from its chatter tracking, timed when the sync saw
    them. Returns (None, []) when nothing changed."""
    values = (
        subscription.env["mail.tracking.value"]
        .sudo()
        .search(
            [
                ("mail_message_id.model", "=", "csp.subscription"),
                ("mail_message_id.res_id", "=", subscription.id),
                ("field_id.name", "in", ("quantity", "status")),
                ("mail_message_id.date", ">", since),
            ],
            order="id",
        )
    )
    changes, opening_quantity = [], None
    for value in values:
        message = value.mail_message_id
        field = value.field_id.name
        if field == "quantity":
            if opening_quantity is None:
                opening_quantity = value.old_value_integer
            changes.append(prorata.Change(
                f"q{value.id}", prorata.ChangeKind.QUANTITY, utc(message.date),
                TimeSource.SEEN, value.new_value_integer,
            ))  # fmt: skip
        elif field == "status" and value.new_value_char in ("Deleted", "deleted"):
            changes.append(prorata.Change(
                f"x{value.id}", prorata.ChangeKind.CANCEL, utc(message.date), TimeSource.SEEN,
            ))  # fmt: skip
    if not changes:
        return None, []
    if opening_quantity is None:
        opening_quantity = subscription.quantity
    return opening_quantity, changes
