"""Quantity changes under new-commerce refund windows (one window per added batch)."""

from datetime import UTC, datetime, timedelta

from odoo.addons.csp_connector.sync import subscriptions as rules

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def details(*batches):
    return [{"quantity": q, "allowedUntilDateTime": (NOW + d).isoformat()} for q, d in batches]


def test_increase_is_always_allowed_on_an_active_subscription():
    assert rules.check_quantity_change(5, 8, [], NOW).allowed


def test_decrease_within_the_open_windows_is_allowed():
    windows = rules.windows_from(details((2, timedelta(days=3)), (3, timedelta(hours=1))))
    decision = rules.check_quantity_change(10, 5, windows, NOW)
    assert decision.allowed and decision.refundable == 5


def test_decrease_larger_than_the_refundable_seats_is_refused_with_dates():
    windows = rules.windows_from(
        details((4, timedelta(hours=-2)), (2, timedelta(days=2)), (1, timedelta(days=-9)))
    )
    decision = rules.check_quantity_change(10, 6, windows, NOW)
    assert not decision.allowed
    assert decision.refundable == 2
    assert decision.closed_at == NOW - timedelta(hours=2)
    assert "Only 2 seat(s)" in decision.reason and "remove 4" in decision.reason
    assert "closed on 2026-11-27 10:00 UTC" in decision.reason
    assert "closes on 2026-11-29 12:00 UTC" in decision.reason


def test_decrease_after_every_window_closed():
    windows = rules.windows_from('[{"quantity": 3, "until": "2026-11-20T08:30:00Z"}]')
    decision = rules.check_quantity_change(3, 1, windows, NOW)
    assert not decision.allowed and decision.refundable == 0
    assert "closed on 2026-11-20 08:30 UTC" in decision.reason
    # no window known at all (seats bought long ago): refused, no date to give
    decision = rules.check_quantity_change(3, 1, [], NOW)
    assert not decision.allowed and decision.closed_at is None and "168 hours" in decision.reason


def test_refused_requests():
    assert not rules.check_quantity_change(3, 0, [], NOW).allowed
    assert not rules.check_quantity_change(3, 3, [], NOW).allowed
    assert not rules.check_quantity_change(3, True, [], NOW).allowed
    suspended = rules.check_quantity_change(3, 4, [], NOW, status="suspended")
    assert not suspended.allowed and "suspended" in suspended.reason


def test_unreadable_windows_are_left_out():
    assert rules.windows_from("not json") == []
    assert rules.windows_from([{"quantity": 0, "until": "2026-11-30T00:00:00Z"},
                               {"quantity": 2, "until": None}, "x"]) == []  # fmt: skip


def test_windows_are_in_utc_whatever_offset_partner_center_wrote():
    (window,) = rules.windows_from([{"quantity": 2, "until": "2026-11-30T10:00:00.1234567+02:00"}])
    assert window.until == datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=UTC)
    assert window.until.utcoffset() == timedelta(0)  # Odoo stores it without its zone


def test_patch_body_keeps_the_object_and_changes_the_quantity():
    current = {"id": "s", "quantity": 3, "attributes": {"etag": "7"}}
    body = rules.patch_body(current, 5)
    assert body == {"id": "s", "quantity": 5, "attributes": {"etag": "7"}}
    assert current["quantity"] == 3


def test_refused_decrease_names_the_three_dates():
    """When the seats were added, the last day they could be removed, and the renewal
    when a decrease is possible again."""
    windows = rules.windows_from('[{"quantity": 3, "until": "2026-11-20T08:30:00Z"}]')
    renewal = datetime(2027, 11, 12, tzinfo=UTC)
    decision = rules.check_quantity_change(5, 2, windows, NOW, renewal=renewal)
    assert not decision.allowed
    assert "added on 2026-11-13" in decision.reason
    assert "could be removed until 2026-11-20" in decision.reason
    assert "at renewal, on 2027-11-12" in decision.reason
    # no window known: the last addition Odoo saw dates it (a naive UTC datetime)
    decision = rules.check_quantity_change(
        5, 2, [], NOW, renewal=datetime(2027, 1, 1), added=datetime(2026, 10, 1, 9, 0)
    )
    assert "last added on 2026-10-01" in decision.reason
    assert "removed until 2026-10-08" in decision.reason
    assert "on 2027-01-01" in decision.reason
