"""The monthly licence statement's content (sync/statement.py)."""

import datetime as dt

from odoo.addons.csp_connector.sync import statement as rules


def test_month_bounds_and_previous_month():
    assert rules.month_bounds(dt.date(2027, 2, 14)) == (dt.date(2027, 2, 1), dt.date(2027, 3, 1))
    assert rules.month_bounds(dt.date(2026, 12, 31)) == (dt.date(2026, 12, 1), dt.date(2027, 1, 1))
    assert rules.previous_month(dt.date(2027, 1, 5)) == dt.date(2026, 12, 1)


def test_changes_in_words():
    assert rules.change_words("quantity", 2, 5) == "Seats changed: 2 → 5"
    assert rules.change_words("purchase", 0, 3) == "Bought: 3 seat(s)"
    assert rules.change_words("cancel", 3, 3) == "Cancelled"
    assert rules.change_words("odd", 1, 1) == "Changed"


def test_content_keeps_licensed_users_sorted_and_counts_them():
    content = rules.content(
        [("Microsoft 365 E3", 10, 7), ("exchange Online", 5, 5)],
        [("Zoe", "zoe@x", ["Microsoft 365 E3"]), ("Adam", "adam@x", ["b", "a"]),
         ("Mailbox", "shared@x", [])],
        [(dt.date(2026, 11, 20), "E3", "quantity", 8, 10),
         (dt.date(2026, 11, 3), "E3", "purchase", 0, 8)],
        devices=4,
    )  # fmt: skip
    assert [row["name"] for row in content["licences"]] == ["exchange Online", "Microsoft 365 E3"]
    assert [row["login"] for row in content["users"]] == ["adam@x", "zoe@x"]
    assert content["users"][0]["licences"] == ["a", "b"]
    assert [row["date"] for row in content["changes"]] == ["2026-11-03", "2026-11-20"]
    assert content["totals"] == {"paid": 15, "assigned": 12, "users": 2}
    assert content["devices"] == 4
    assert rules.content([], [], [])["devices"] is None
