"""Which contract a subscription's line goes on, and its quantity by assigned seats."""

from odoo.addons.csp_connector_billing.billing import lines


def contract(cid, rule, start, interval=1):
    return {"id": cid, "recurring_rule_type": rule, "recurring_interval": interval,
            "date_start": start}  # fmt: skip


def test_recurrence_matches_the_billing_cycle():
    assert lines.recurrence_for("monthly") == ("monthly", 1)
    assert lines.recurrence_for("Annual") == ("yearly", 1)
    assert lines.recurrence_for("triennial") == ("yearly", 3)  # three years paid up front
    assert lines.recurrence_for("one_time") is None
    assert lines.recurrence_for(None) is None
    assert not lines.is_billed("none") and not lines.is_billed(None)
    assert lines.is_billed("monthly")


def test_newest_matching_contract_wins():
    contracts = [
        contract(1, "monthly", "2025-01-01"),
        contract(2, "monthly", "2026-02-01"),
        contract(3, "yearly", "2026-01-01"),
        contract(4, "monthly", "2026-05-01", interval=3),  # every 3 months: not monthly
        contract(5, "quarterly", "2026-06-01"),
    ]
    assert lines.pick_contract(contracts, "monthly")["id"] == 2
    assert lines.pick_contract(contracts, "annual")["id"] == 3
    assert lines.pick_contract(contracts[:1] + contracts[3:], "annual") is None
    assert lines.pick_contract(contracts, "none") is None
    # triennial billing: a yearly contract invoiced every 3 years, never the yearly one
    assert lines.pick_contract(contracts, "triennial") is None
    every3 = contract(6, "yearly", "2025-01-01", interval=3)
    assert lines.pick_contract([*contracts, every3], "triennial")["id"] == 6
    assert lines.pick_contract([*contracts, every3], "annual")["id"] == 3
    # same start: the newer record
    twins = [contract(7, "yearly", "2026-01-01"), contract(9, "yearly", "2026-01-01")]
    assert lines.pick_contract(twins, "annual")["id"] == 9


def test_assigned_seats_are_shared_in_subscription_order():
    assert lines.assigned_shares(7, [(2, 5), (1, 4)]) == {1: 4, 2: 3}
    assert lines.assigned_shares(20, [(1, 4), (2, 5)]) == {1: 4, 2: 5}
    assert lines.assigned_shares(0, [(1, 4)]) == {1: 0}
    assert lines.assigned_shares(None, [(1, 4)]) == {1: 0}


def test_what_a_missing_contract_needs_is_said_in_words():
    assert lines.recurrence_text("monthly") == (
        "needs an active sale contract invoiced every month (Recurrence Month(s), Invoice Every 1)"
    )
    assert lines.recurrence_text("triennial") == (
        "needs an active sale contract invoiced every 3 years (Recurrence Year(s), Invoice Every 3)"
    )
    assert "billing cycle 'one_time'" in lines.recurrence_text("one_time")
    assert "invoice it by hand" in lines.recurrence_text("one_time")
