"""The property filters users and devices share (csp_connector/sync/filters.py)."""

import pytest

from odoo.addons.csp_connector.sync import filters
from odoo.addons.csp_connector.sync import users as user_rules
from odoo.addons.csp_connector_assets.sync import devices as device_rules


def test_the_same_filter_for_users_and_devices():
    assert user_rules.PropertyFilter is filters.PropertyFilter
    assert device_rules.Condition is filters.PropertyFilter
    assert user_rules.text_value is device_rules.text_value is filters.text_value


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("equals", " WINDOWS ", True),
        ("not_equals", "windows", False),
        ("contains", "ndo", True),
        ("starts_with", "win", True),
        ("starts_with", "dows", False),
        ("is_set", "", True),
        ("is_not_set", "", False),
    ],
)
def test_operators_compare_text_without_case(operator, value, expected):
    item = {"operatingSystem": "Windows"}
    assert filters.PropertyFilter("operatingSystem", operator, value).matches(item) is expected


def test_a_missing_or_empty_property_is_not_set():
    for item in ({}, {"city": None}, {"city": "  "}, {"city": []}):
        assert filters.PropertyFilter("city", "is_not_set").matches(item)


def test_an_unknown_operator_is_refused():
    with pytest.raises(ValueError):
        filters.PropertyFilter("city", "matches", "x").matches({"city": "x"})


def test_operators_that_need_a_value():
    assert set(filters.OPERATORS) - filters.VALUELESS == {
        op for op in filters.OPERATORS if filters.needs_value(op)
    }
    assert not filters.needs_value("is_set") and filters.needs_value("equals")


def test_text_values():
    assert filters.text_value(None) == ""
    assert filters.text_value(["+1 555", "+1 666"]) == "+1 555"
    assert filters.text_value(True) == "true"
    assert filters.text_value(" a\x00b ") == "ab"
