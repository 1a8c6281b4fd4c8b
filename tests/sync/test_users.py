import json
import pathlib

from odoo.addons.csp_connector.sync import users as rules

TENANT = "t1"


def user(**values):
    base = {"id": "u1", "userPrincipalName": "ann@x.com", "mail": "ann@x.com",
            "displayName": "Ann", "accountEnabled": True, "userType": "Member",
            "assignedLicenses": []}  # fmt: skip
    return {**base, **values}


def mapping(mid, sequence, kind=rules.KIND_SITE, **values):
    return rules.SiteMapping(id=mid, sequence=sequence, kind=kind, customer_id=100,
                             site_id=values.pop("site_id", 100), **values)  # fmt: skip


def test_first_mapping_by_sequence_wins_and_filters_apply():
    mappings = [
        mapping(1, 1, filters=(rules.PropertyFilter("department", "equals", "hr"),),
                kind=rules.KIND_SKIP),
        mapping(2, 2, site_id=7, group_ids=frozenset({"g1"})),
        mapping(3, 3, site_id=8),
    ]  # fmt: skip
    assert rules.decide(TENANT, user(department="HR"), mappings, [], set(), {}).skip_reason == (
        "mapping"
    )
    assert rules.decide(TENANT, user(), mappings, [], {"g1"}, {}).parent_id == 7
    assert rules.decide(TENANT, user(), mappings, [], set(), {}).parent_id == 8


def test_guests_need_a_mapping_that_includes_them():
    guest = user(userPrincipalName="ann_x.com#EXT#@t.onmicrosoft.com", userType="Guest")
    assert rules.decide(TENANT, guest, [mapping(1, 1)], [], set(), {}).skip_reason == ("no_mapping")
    assert rules.decide(TENANT, guest, [mapping(1, 1, include_external=True)], [], set(), {})


def test_tenant_filter_and_field_sites():
    mappings = [
        mapping(1, 1, tenant_ids=frozenset({"other"})),
        mapping(2, 2, kind=rules.KIND_FIELD_SITES, azure_field="officeLocation"),
    ]
    decision = rules.decide(TENANT, user(officeLocation="Leeds"), mappings, [], set(), {})
    assert (decision.mapping_id, decision.site_value) == (2, "Leeds")


def test_property_filter_operators():
    u = user(jobTitle="Senior Engineer", city="")
    check = lambda op, value="": rules.PropertyFilter("jobTitle", op, value).matches(u)  # noqa: E731
    assert check("contains", "engineer") and check("starts_with", "senior")
    assert check("not_equals", "clerk") and check("is_set")
    assert not rules.PropertyFilter("city", "is_set").matches(u)
    assert rules.PropertyFilter("city", "is_not_set").matches(u)


def test_licence_rule_and_values_per_group():
    e3 = {"skuId": "e3"}
    skus = frozenset({"e3"})
    m = mapping(1, 1, values=(rules.ValueMapping("ref", "VIP", "g1"),
                              rules.ValueMapping("comment", "all")))  # fmt: skip
    excluded = {"licence_rule": "exclude", "licence_skus": skus}
    assert rules.decide(TENANT, user(assignedLicenses=[e3]), [m], [], set(), excluded).skip_reason
    included = {"licence_rule": "include", "licence_skus": skus}
    assert rules.decide(TENANT, user(), [m], [], set(), included).skip_reason == "licence"
    member = rules.decide(TENANT, user(), [m], [("displayName", "name")], {"g1"}, {})
    assert member.values == {"name": "Ann", "active": True, "ref": "VIP", "comment": "all"}
    other = rules.decide(TENANT, user(accountEnabled=False), [m], [], set(), {})
    assert other.values == {"active": False, "comment": "all"}


def test_fingerprint_changes_only_with_what_is_written():
    m = [mapping(1, 1)]
    a = rules.decide(TENANT, user(), m, [("displayName", "name")], set(), {})
    b = rules.decide(TENANT, user(jobTitle="x"), m, [("displayName", "name")], set(), {})
    c = rules.decide(TENANT, user(displayName="Anne"), m, [("displayName", "name")], set(), {})
    assert rules.fingerprint(a) == rules.fingerprint(b) != rules.fingerprint(c)


def test_select_lists_only_what_is_needed():
    select = rules.select_for([("jobTitle", "function")],
                              [mapping(1, 1, kind=rules.KIND_FIELD_SITES,
                                       azure_field="officeLocation")])  # fmt: skip
    fields = set(select.split(","))
    assert {"jobTitle", "officeLocation", "id", "accountEnabled"} <= fields
    assert "department" not in fields and "signInActivity" not in fields


# -- delta entries as Microsoft documents them (tests/sync/fixtures) ----------------

FIXTURES = json.loads(
    (pathlib.Path(__file__).parent / "fixtures" / "graph_users_delta.json").read_text()
)
FIELDS = [("displayName", "name"), ("mail", "email"), ("jobTitle", "function"),
          ("mobilePhone", "mobile"), ("businessPhones", "phone")]  # fmt: skip


def test_a_partial_delta_entry_changes_only_what_it_carries():
    known = FIXTURES["known"]
    merged = rules.merge_entry(known, FIXTURES["partial_update"])
    assert "@odata.type" not in merged
    assert merged == {**known, "jobTitle": "Head of Purchasing"}
    values = rules.decide(TENANT, merged, [mapping(1, 1)], FIELDS, set(), {}).values
    assert values == {"name": "Maya Okafor", "email": "maya.okafor@fabrikam-demo.example",
                      "function": "Head of Purchasing", "mobile": "+44 7700 900123",
                      "phone": "+44 20 7946 0011", "active": True}  # fmt: skip
    cleared = rules.merge_entry(merged, FIXTURES["cleared_phone"])
    assert (
        rules.decide(TENANT, cleared, [mapping(1, 1)], FIELDS, set(), {}).values["mobile"] is False
    ), "an explicit null clears"


def test_an_entry_alone_never_empties_or_excludes_what_it_does_not_carry():
    partial = FIXTURES["partial_update"]
    assert rules.is_partial(partial) and not rules.is_partial(FIXTURES["known"])
    skus = frozenset({"05e9a617-0261-4cee-bb44-138d3ef5d965"})
    options = {"licence_rule": "include", "licence_skus": skus}
    decision = rules.decide(TENANT, partial, [mapping(1, 1)], FIELDS, set(), options)
    assert decision.skip_reason is None, "unknown licences do not fail an include rule"
    assert decision.values == {"function": "Head of Purchasing"}, "no name, mail or active"


def test_users_without_a_display_name_get_a_built_one():
    nameless = FIXTURES["nameless"]
    assert rules.built_name(nameless) == "svc-scanner@fabrikam-demo.example"
    assert rules.built_name({**nameless, "givenName": "Scan", "surname": "Ner"}) == "Scan Ner"
    assert rules.built_name({"id": "x1"}) == "x1"
    guest = {"id": "g", "userPrincipalName": "kim_x.com#EXT#@t.onmicrosoft.com",
             "mail": "kim@x.com", "userType": "Guest"}  # fmt: skip
    assert rules.built_name(guest) == "kim@x.com"
    decision = rules.decide(TENANT, {**nameless, "displayName": None}, [mapping(1, 1)], FIELDS,
                            set(), {})  # fmt: skip
    assert decision.values["name"] == "svc-scanner@fabrikam-demo.example"
