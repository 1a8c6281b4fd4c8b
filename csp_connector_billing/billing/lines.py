# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Which contract a subscription's line goes on, and its quantity: plain decisions.

* A subscription billed monthly goes on a contract invoiced every month, one billed
  annually on a contract invoiced every year, one billed every three years (Partner
  Center's ``triennial``, three-year terms paid up front) on a contract invoiced every 3
  years (OCA contract's ``recurring_rule_type`` ``monthly`` or ``yearly`` with an
  interval of 1, 1 or 3). A three-year term billed monthly or annually follows its billing
  cycle like any other. Other cycles have no matching recurrence: the activity names
  them.
* The customer's newest active sale contract with that recurrence is used (the highest
  start date, then the newest record).
* The quantity is the purchased seats, or the assigned seats: the licence's assigned seats
  shared out over the subscriptions that provide it, in the order of their ids, each
  getting at most its own quantity.
"""

RECURRENCE = {"monthly": ("monthly", 1), "annual": ("yearly", 1), "triennial": ("yearly", 3)}
# billing cycles whose seat changes are pro-rated here (billing/prorata.py's cycles)
PRORATED = ("monthly", "annual")

PURCHASED = "purchased"
ASSIGNED = "assigned"


def recurrence_for(billing_cycle):
    """(recurring_rule_type, recurring_interval) matching Partner Center's billingCycle,
    or None."""
    return RECURRENCE.get((billing_cycle or "").strip().lower())


def recurrence_text(billing_cycle):
    """What a contract for ``billing_cycle`` must look like, in words."""
    wanted = recurrence_for(billing_cycle)
    if wanted is None:
        return (
            f"no contract recurrence matches the billing cycle '{billing_cycle or '?'}' "
            "(monthly, annual and triennial ones do): invoice it by hand"
        )
    rule, interval = wanted
    unit = {"monthly": "month", "yearly": "year"}[rule]
    every = f"every {unit}" if interval == 1 else f"every {interval} {unit}s"
    return (
        f"needs an active sale contract invoiced {every} (Recurrence {unit.title()}(s), "
        f"Invoice Every {interval})"
    )


def cycle(billing_cycle):
    """Partner Center's billing cycle, as compared here (lower case, no spaces)."""
    return (billing_cycle or "").strip().lower()


def is_billed(billing_cycle):
    """False for subscriptions Microsoft does not bill (billing cycle 'none', e.g. free
    offers): they get no contract line."""
    return (billing_cycle or "none").strip().lower() != "none"


def pick_contract(contracts, billing_cycle):
    """The newest of ``contracts`` (dicts with id, date_start, recurring_rule_type,
    recurring_interval) whose recurrence matches ``billing_cycle``; None when none does."""
    wanted = recurrence_for(billing_cycle)
    if wanted is None:
        return None
    matching = [
        c for c in contracts
        if (c["recurring_rule_type"], c["recurring_interval"]) == wanted
    ]  # fmt: skip
    if not matching:
        return None
    return max(matching, key=lambda c: (str(c["date_start"] or ""), c["id"]))


def assigned_shares(assigned, subscriptions):
    """{subscription id: assigned seats} sharing ``assigned`` seats of one licence over
    ``subscriptions`` ((id, quantity) pairs) in id order, each at most its quantity."""
    shares, left = {}, max(assigned or 0, 0)
    for sub_id, quantity in sorted(subscriptions):
        shares[sub_id] = min(quantity or 0, left)
        left -= shares[sub_id]
    return shares
