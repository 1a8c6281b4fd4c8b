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
    (TimeSource.SUBSCRIPTION.value, "The subscription's start"),
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
        help="What Microsoft charges for this change (signed; credits negative); for the "
        "first days of a subscription bought mid-period, its cost per seat for those days.",
    )  # fmt: skip
    amount = fields.Monetary(
        string="Customer Amount", readonly=True,
        help="The same days and rounding at your unit price on the contract line.",
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


TRACKED = ("quantity", "status", "start_date", "changed_at")


def _moment(value):
    return utc(value) if value else None


def history(subscription, since):
    """(opening quantity, changes) of ``subscription`` after ``since``: see
    :func:`history_with_term`."""
    opening_quantity, __, changes = history_with_term(subscription, since)
    return opening_quantity, changes


def history_with_term(subscription, since):
    """(opening quantity, opening term start, changes) of ``subscription`` after ``since``
    (a naive UTC datetime), from its change history (the chatter's tracked values), oldest
    first: each time the sync saw the quantity, the status or the start of the term change.

    A change is dated by Partner Center's audit record when the sync kept one with it
    (the subscription's *Changed in Partner Center* changed in the same entry), otherwise
    by when the sync saw it. A start moved forward is a renewal (a new term from that day,
    with the quantity of the same entry); a status that became deleted is a cancellation.
    """
    values = (
        subscription.env["mail.tracking.value"]
        .sudo()
        .search(
            [
                ("mail_message_id.model", "=", "csp.subscription"),
                ("mail_message_id.res_id", "=", subscription.id),
                ("field_id.name", "in", TRACKED),
                ("mail_message_id.date", ">", since),
            ],
            order="mail_message_id, id",
        )
    )
    entries = {}
    for value in values:
        entries.setdefault(value.mail_message_id, {})[value.field_id.name] = value
    changes, opening_quantity, term_start = [], None, None
    for message, entry in entries.items():
        audit = entry.get("changed_at") and entry["changed_at"].new_value_datetime
        when, source = (
            (_moment(audit), TimeSource.AUDIT_RECORD) if audit
            else (utc(message.date), TimeSource.SEEN)
        )  # fmt: skip
        quantity = entry.get("quantity")
        if quantity and opening_quantity is None:
            opening_quantity = quantity.old_value_integer
        start = entry.get("start_date")
        old_start = start and _moment(start.old_value_datetime)
        new_start = start and _moment(start.new_value_datetime)
        if new_start and (old_start is None or new_start.date() > old_start.date()):
            term_start = term_start or old_start
            changes.append(prorata.Change(
                f"r{start.id}", prorata.ChangeKind.RENEWAL, new_start, TimeSource.SUBSCRIPTION,
                quantity.new_value_integer if quantity else None,
            ))  # fmt: skip
        elif quantity:
            changes.append(prorata.Change(
                f"q{quantity.id}", prorata.ChangeKind.QUANTITY, when, source,
                quantity.new_value_integer,
            ))  # fmt: skip
        status = entry.get("status")
        if status and (status.new_value_char or "").lower() == "deleted":
            changes.append(prorata.Change(f"x{status.id}", prorata.ChangeKind.CANCEL, when, source))
    if opening_quantity is None:
        opening_quantity = subscription.quantity
    return opening_quantity, term_start or utc(subscription.start_date), changes
