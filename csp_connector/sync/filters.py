# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Conditions on the properties of a Microsoft object (an Azure user, an Intune
device), as plain data: the site mappings' user filters and the device category
rules' conditions are the same filter, with the same operators and text rules.
Nothing here reads or writes the database.
"""

from dataclasses import dataclass

from ..microsoft.safe_text import clean_text

# the operators a filter knows (each model words them for its own form)
OPERATORS = ("equals", "not_equals", "contains", "starts_with", "is_set", "is_not_set")
# the operators that compare with nothing (every other one needs a value)
VALUELESS = frozenset({"is_set", "is_not_set"})


def text_value(value):
    """A Microsoft property as the text stored in Odoo and compared by the filters
    (safe_text.clean_text: no NUL, no other control or bidirectional override
    character); a list is its first item, a boolean "true" or "false"."""
    if value is None:
        return ""
    if isinstance(value, list):
        return clean_text(str(value[0])).strip() if value else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return clean_text(str(value)).strip()


def needs_value(operator):
    """Whether a filter with `operator` compares with a value."""
    return operator not in VALUELESS


@dataclass(frozen=True)
class PropertyFilter:
    """One property of the object, compared as text without regard to case."""

    field: str
    operator: str
    value: str = ""

    def matches(self, item):
        actual = text_value(item.get(self.field))
        wanted = (self.value or "").strip().lower()
        actual_lower = actual.lower()
        if self.operator == "is_set":
            return bool(actual)
        if self.operator == "is_not_set":
            return not actual
        if self.operator == "equals":
            return actual_lower == wanted
        if self.operator == "not_equals":
            return actual_lower != wanted
        if self.operator == "contains":
            return wanted in actual_lower
        if self.operator == "starts_with":
            return actual_lower.startswith(wanted)
        raise ValueError(f"unknown operator {self.operator}")
