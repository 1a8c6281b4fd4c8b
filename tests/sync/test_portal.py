"""The customer portal's words and seat-request rules (sync/portal.py)."""

from datetime import UTC, datetime, timedelta

from odoo.addons.csp_connector.sync import portal as rules
from odoo.addons.csp_connector.sync import subscriptions as quantity_rules

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
RENEWAL = datetime(2027, 3, 1)


def test_terms_in_words():
    assert rules.term_words("P1M") == "1 month"
    assert rules.term_words("P1Y") == "1 year"
    assert rules.term_words("P3Y") == "3 years"
    assert rules.term_words("P36M") == "3 years"
    assert rules.term_words("p1y") == "1 year"
    assert rules.term_words("") == "-"
    assert rules.term_words("P") == "-"
    assert rules.term_words("one year") == "-"


def test_billing_cycles_in_words():
    assert rules.cycle_words("monthly") == "billed monthly"
    assert rules.cycle_words("Annual") == "billed yearly"
    assert rules.cycle_words("unknown") == "-"
    assert rules.cycle_words(None) == "-"


def test_an_increase_may_be_requested():
    assert rules.check_request(2, 5, [], NOW, "active", RENEWAL).allowed


def test_a_decrease_outside_the_window_says_from_when_it_is_possible():
    decision = rules.check_request(5, 2, [], NOW, "active", RENEWAL)
    assert not decision.allowed
    assert decision.possible_from == RENEWAL
    assert "2027-03-01" in decision.reason
    assert "7 days" in decision.reason


def test_a_decrease_inside_the_window_may_be_requested_beyond_it_not():
    windows = quantity_rules.windows_from(
        [{"quantity": 2, "allowedUntilDateTime": (NOW + timedelta(days=2)).isoformat()}]
    )
    assert rules.check_request(5, 3, windows, NOW, "active", RENEWAL).allowed
    decision = rules.check_request(5, 1, windows, NOW, "active", RENEWAL)
    assert not decision.allowed
    assert "Only 2 seat(s)" in decision.reason


def test_other_refusals_keep_the_quantity_rules_reason():
    decision = rules.check_request(5, 6, [], NOW, "suspended", RENEWAL)
    assert not decision.allowed and "suspended" in decision.reason
    assert decision.possible_from is None
    assert not rules.check_request(5, 5, [], NOW, "active").allowed
    assert not rules.check_request(5, 0, [], NOW, "active").allowed
