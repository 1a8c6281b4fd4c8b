# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Which sale contracts "Create contracts" makes: plain decisions.

* A customer needs one contract per recurrence its billable subscriptions need
  (lines.recurrence_for: every month, every year, every 3 years), when none of its
  contracts matches it yet (lines.pick_contract, the billing step's own choice).
* Its contracts start, and are first invoiced, on the first day of next month unless
  another date is chosen.
"""

import datetime as dt

from . import lines as line_rules


def first_of_next_month(today):
    """The first day of the month after ``today``."""
    return (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def every(recurrence):
    """('monthly', 1) -> 'every month', ('yearly', 3) -> 'every 3 years'."""
    rule, interval = recurrence
    unit = {"monthly": "month", "yearly": "year"}.get(rule, rule)
    return f"every {unit}" if interval == 1 else f"every {interval} {unit}s"


def needed(subscriptions, has_contract):
    """{(customer, recurrence): [subscription, ...]} of the contracts to create.

    ``subscriptions``: (subscription, customer, billing cycle) triples of the active
    subscriptions with no contract line; ``has_contract(subscription)``: whether the
    billing step finds a contract for it (asked once per customer and recurrence).
    Subscriptions Microsoft does not bill, or whose cycle no recurrence matches, need
    none (the billing step's activity names the latter)."""
    found, wanted = {}, {}
    for subscription, customer, billing_cycle in subscriptions:
        recurrence = line_rules.recurrence_for(billing_cycle)
        if not customer or recurrence is None or not line_rules.is_billed(billing_cycle):
            continue
        key = (customer, recurrence)
        if key not in found:
            found[key] = has_contract(subscription)
        if not found[key]:
            wanted.setdefault(key, []).append(subscription)
    return wanted
