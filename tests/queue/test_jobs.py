"""The job queue's decisions (csp_connector_queue/sync/jobs.py), as plain data: lanes,
transient faults, the delay before another try."""

import pytest

from odoo.addons.csp_connector.microsoft import errors
from odoo.addons.csp_connector_queue.sync import jobs as rules


def test_lanes_keep_a_tenants_steps_together_in_order():
    pending = [(1, ["tenants", "users"]), (2, ["users"]), (3, ["tenants", "users"]), (4, [])]
    lanes = rules.lanes(pending, 2)
    assert lanes == [[(1, "tenants"), (1, "users"), (3, "tenants"), (3, "users")], [(2, "users")]]


def test_no_more_lanes_than_tenants_nor_than_the_capacity():
    pending = [(tid, ["users"]) for tid in range(10)]
    assert len(rules.lanes(pending, 4)) == 4
    assert len(rules.lanes(pending[:3], 8)) == 3
    assert len(rules.lanes(pending, 0)) == 1, "a capacity below 1 is 1"
    assert len(rules.lanes(pending, "x")) == rules.DEFAULT_CAPACITY
    assert sum(len(lane) for lane in rules.lanes(pending, 3)) == 10, "every step once"


@pytest.mark.parametrize(
    "error,transient",
    [
        (errors.ThrottledError("slow down", status=429), True),
        (errors.TransportError("reset"), True),
        (errors.MicrosoftError("down", status=503), True),
        (errors.MicrosoftError("no consent", status=403), False),
        (errors.AuthError("AADSTS65001 consent"), False),
        (ValueError("bug"), False),
    ],
)
def test_what_is_tried_again(error, transient):
    assert rules.is_transient(error) is transient


def test_retry_after_is_honoured_else_backoff():
    assert rules.retry_seconds(errors.ThrottledError("x", retry_after="200"), 1) == 200
    assert rules.retry_seconds(errors.ThrottledError("x", retry_after="0"), 1) == 1
    assert rules.retry_seconds(errors.ThrottledError("x", retry_after="soon"), 1) == 30
    assert rules.retry_seconds(errors.ThrottledError("x", retry_after="99999"), 1) == 3600
    assert [rules.retry_seconds(errors.TransportError("x"), n) for n in (1, 2, 3, 6)] == [
        30, 60, 120, 600,
    ]  # fmt: skip


def test_each_connection_has_its_channel_under_root_csp():
    assert rules.channel_name(7) == "root.csp.connection_7"
