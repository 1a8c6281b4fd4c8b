"""Groups delta's members@delta merge (csp_connector/sync/groups.py), as plain data."""

from odoo.addons.csp_connector.sync import groups as rules

Stored = rules.StoredGroup


def entry(group_id, *members, removed=(), name=None, gone=False):
    item = {"id": group_id}
    if gone:
        item["@removed"] = {"reason": "changed"}
        return item
    if name:
        item["displayName"] = name
    item["members@delta"] = [{"id": m} for m in members] + [
        {"id": m, "@removed": {"reason": "deleted"}} for m in removed
    ]
    return item


def test_a_full_round_starts_each_group_from_its_listed_members():
    stored = {"g1": Stored("Sales", frozenset({"old"}))}
    seen = set()
    planned, removed = rules.merge_page([entry("g1", "a", "b", name="Sales")], stored, True, seen)
    assert planned == {"g1": ("Sales", ["a", "b"])}
    assert removed == [] and seen == {"g1"}


def test_a_delta_round_adds_and_removes_members_of_what_is_stored():
    stored = {"g1": Stored("Sales", frozenset({"a", "b"}))}
    planned, _removed = rules.merge_page([entry("g1", "c", removed=("a",))], stored, False, set())
    assert planned == {"g1": ("Sales", ["b", "c"])}, "the stored name stays"


def test_a_large_group_split_over_entries_and_pages_adds_up():
    seen = set()
    stored = {}
    planned, _ = rules.merge_page(
        [entry("g1", "a", name="Big"), entry("g1", "b")], stored, True, seen
    )
    assert planned == {"g1": ("Big", ["a", "b"])}
    # the next page: the group met earlier in this full round keeps what it has
    stored = {"g1": Stored("Big", frozenset({"a", "b"}))}
    planned, _ = rules.merge_page([entry("g1", "c")], stored, True, seen)
    assert planned == {"g1": ("Big", ["a", "b", "c"])}


def test_removed_groups_and_a_group_listed_again_in_the_page():
    stored = {"g1": Stored("One", frozenset({"a"})), "g2": Stored("Two", frozenset({"b"}))}
    items = [entry("g1", gone=True), entry("g2", gone=True), entry("g2", "c")]
    planned, removed = rules.merge_page(items, stored, False, set())
    assert removed == ["g1"], "g2 is back in the same page"
    assert planned == {"g2": ("Two", ["b", "c"])}


def test_a_group_stored_as_removed_starts_again_from_nothing():
    stored = {"g1": Stored("Old", frozenset({"a"}), removed=True)}
    planned, _ = rules.merge_page([entry("g1", "b")], stored, False, set())
    assert planned == {"g1": ("Old", ["b"])}


def test_a_new_group_without_a_name_is_named_by_its_id():
    planned, _ = rules.merge_page([entry("g9", "a")], {}, False, set())
    assert planned == {"g9": ("g9", ["a"])}
