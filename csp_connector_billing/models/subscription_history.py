# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A subscription's change history (csp.subscription.change, the core's ledger) read as
the pro-rata rules' changes: the opening state at a date and each change after it, dated
as its row says (the billing step's pro-rata and the reconciliation's expected charges)."""

from odoo.addons.csp_connector.sync import ledger

from ..billing import prorata
from ..billing.prorata import TimeSource
from .csp_billing_adjustment import utc


def _moment(value):
    return utc(value) if value else None


LEDGER_TIME = {ledger.AUDIT_RECORD: TimeSource.AUDIT_RECORD}  # else: seen (by a read, a
# webhook's read, or Partner Center's answer to a change made from Odoo)


def change_row_id(change_id):
    """The ledger row (csp.subscription.change id) of a history's change id (q12, r3,
    x7), or None (the purchase of a first period: the history's opening row)."""
    if change_id and change_id[0] in "qrx" and change_id[1:].isdigit():
        return int(change_id[1:])
    return None


def ledger_rows(subscription):
    """The subscription's change history (csp.subscription.change), oldest first."""
    return (
        subscription.env["csp.subscription.change"]
        .sudo()
        .search([("subscription_id", "=", subscription.id)], order="changed_at, id")
    )


def history(subscription, since):
    """(opening quantity, changes) of ``subscription`` after ``since``: see
    :func:`history_with_term`."""
    opening_quantity, __, changes = history_with_term(subscription, since)
    return opening_quantity, changes


def history_with_term(subscription, since):
    """(opening quantity, opening term start, changes) of ``subscription`` after ``since``
    (a naive UTC datetime), from its change history (csp.subscription.change, the only
    source: never the chatter), oldest first.

    The opening state is the one in force at ``since`` (the last change up to then; the
    history's opening row when it starts later). Each change after ``since`` is dated as
    its row says (Partner Center's audit record, else when it was seen): a term start
    moved forward is a renewal (a new term from that day, with the row's quantity); a
    status that became deleted is a cancellation; a quantity changed is a seat change,
    each at its own time.
    """
    rows = ledger_rows(subscription)
    before = rows.filtered(lambda r: r.changed_at <= since)
    after = (rows - before).filtered(lambda r: r.kind not in ledger.OPENING)
    if before:
        opening = before[-1]
        quantity, term_start = opening.new_quantity, opening.new_term_start
    elif rows:
        first = rows[0]
        new = first.kind in ledger.OPENING
        quantity = first.new_quantity if new else first.old_quantity
        term_start = first.new_term_start if new else first.old_term_start
    else:
        quantity, term_start = subscription.quantity, subscription.start_date
    changes = []
    for row in after:
        when, source = utc(row.changed_at), LEDGER_TIME.get(row.source, TimeSource.SEEN)
        if row.kind == ledger.RENEWAL:
            changes.append(prorata.Change(
                f"r{row.id}", prorata.ChangeKind.RENEWAL,
                _moment(row.new_term_start) or when, TimeSource.SUBSCRIPTION, row.new_quantity,
            ))  # fmt: skip
        elif row.kind == ledger.CANCEL:
            changes.append(prorata.Change(f"x{row.id}", prorata.ChangeKind.CANCEL, when, source))
        elif row.new_quantity != row.old_quantity:
            changes.append(prorata.Change(
                f"q{row.id}", prorata.ChangeKind.QUANTITY, when, source, row.new_quantity
            ))  # fmt: skip
    return quantity, utc(term_start or subscription.start_date), changes
