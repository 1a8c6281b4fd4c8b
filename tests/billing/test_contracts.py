"""Which contracts "Create contracts" makes (billing/contracts.py)."""

import datetime as dt

from odoo.addons.csp_connector_billing.billing import contracts


def test_first_of_next_month_crosses_the_year():
    assert contracts.first_of_next_month(dt.date(2026, 12, 4)) == dt.date(2027, 1, 1)
    assert contracts.first_of_next_month(dt.date(2026, 1, 31)) == dt.date(2026, 2, 1)
    assert contracts.first_of_next_month(dt.date(2026, 2, 1)) == dt.date(2026, 3, 1)


def test_every_in_words():
    assert contracts.every(("monthly", 1)) == "every month"
    assert contracts.every(("yearly", 1)) == "every year"
    assert contracts.every(("yearly", 3)) == "every 3 years"


def test_one_contract_per_customer_and_recurrence_missing():
    asked = []

    def has_contract(subscription):
        asked.append(subscription)
        return subscription == "b-yearly"

    wanted = contracts.needed(
        [
            ("a1", "A", "monthly"),
            ("a2", "A", "Monthly "),  # Partner Center's spelling varies
            ("a3", "A", "triennial"),
            ("b-yearly", "B", "annual"),
            ("b2", "B", "annual"),  # B has its yearly contract already
            ("free", "B", "none"),  # not billed by Microsoft
            ("odd", "B", "quarterly"),  # no recurrence matches: the activity says so
            ("nobody", False, "monthly"),  # an unmapped tenant's
        ],
        has_contract,
    )
    assert wanted == {("A", ("monthly", 1)): ["a1", "a2"], ("A", ("yearly", 3)): ["a3"]}
    assert asked == ["a1", "a3", "b-yearly"]  # once per customer and recurrence
