"""The device import's decisions (csp_connector_assets/sync/devices.py), as plain data."""

import pytest

from odoo.addons.csp_connector_assets.sync import devices as rules


def device(**values):
    base = {
        "id": "d1", "deviceName": "NW-LT-0001", "serialNumber": "5CG1234XYZ",
        "userPrincipalName": "Ann@Contoso.com", "emailAddress": "ann.mail@contoso.com",
        "userId": "u1", "azureADDeviceId": "AB5D-1", "operatingSystem": "Windows",
        "osVersion": "10.0.22631", "model": "Latitude 5440", "manufacturer": "Dell Inc.",
        "complianceState": "compliant", "lastSyncDateTime": "2026-11-30T10:00:00.1234567Z",
        "enrolledDateTime": "0001-01-01T00:00:00Z", "managedDeviceOwnerType": "company",
        "managementAgent": "mdm",
    }  # fmt: skip
    return {**base, **values}


@pytest.mark.parametrize(
    "serial",
    ["", None, "0", "Default string", "To be filled by O.E.M.", "  to be filled by oem ",
     "System Serial Number", "00000000", "N/A", "xxxxxxxxxx", "123456789"],
)  # fmt: skip
def test_placeholder_serials_match_nothing_and_are_not_written(serial):
    plan = rules.plan(device(serialNumber=serial), rules.Settings())
    assert plan.match_key is None
    assert plan.values["serial_no"] is False
    assert rules.clean_serial(serial) is None


def test_real_serial_matches_case_insensitively_and_keeps_its_text():
    plan = rules.plan(device(serialNumber=" 5cg1234xyz "), rules.Settings())
    assert plan.match_key == "5CG1234XYZ"
    assert plan.values["serial_no"] == "5cg1234xyz"


def test_entra_matching_ignores_the_zero_guid():
    settings = rules.Settings(match_field=rules.MATCH_ENTRA)
    assert rules.plan(device(azureADDeviceId="AB-CD"), settings).match_key == "ab-cd"
    assert rules.plan(device(azureADDeviceId=rules.ZERO_GUID), settings).match_key is None


def test_defender_only_devices_are_skipped_when_asked():
    sense = device(managementAgent="msSense")
    assert rules.plan(sense, rules.Settings()).skip == rules.SKIP_DEFENDER
    assert rules.plan(sense, rules.Settings(exclude_defender=False)).skip is None
    assert rules.plan(device(), rules.Settings()).skip is None


def test_user_key_with_mobile_override():
    settings = rules.Settings(user_field="userPrincipalName", mobile_user_field="emailAddress")
    assert rules.plan(device(), settings).user_key == "ann@contoso.com"
    phone = device(operatingSystem="iOS")
    assert rules.plan(phone, settings).user_key == "ann.mail@contoso.com"
    assert rules.plan(device(operatingSystem="Android"), settings).mobile
    assert rules.plan(phone, rules.Settings()).user_key == "ann@contoso.com"
    assert rules.plan(device(userPrincipalName=""), rules.Settings()).user_key is None


def test_category_single_and_field_modes():
    assert rules.plan(device(), rules.Settings(category_id=4)).category == ("id", 4)
    assert rules.plan(device(), rules.Settings()).category is None
    by_field = rules.Settings(category_mode=rules.CATEGORY_FIELD, category_field="model")
    assert rules.plan(device(), by_field).category == ("name", "Latitude 5440")
    fallback = rules.Settings(category_mode=rules.CATEGORY_FIELD, category_field="model",
                              category_id=9)  # fmt: skip
    assert rules.plan(device(model=""), fallback).category == ("id", 9)


def test_category_rules_in_sequence_with_fallback_or_exclusion():
    phones = rules.CategoryRule((rules.Condition("operatingSystem", "equals", "ios"),), 1)
    dell_windows = rules.CategoryRule(
        (rules.Condition("operatingSystem", "equals", "Windows"),
         rules.Condition("manufacturer", "starts_with", "dell")), 2,
    )  # fmt: skip
    windows = rules.CategoryRule((rules.Condition("operatingSystem", "contains", "win"),), 3)
    settings = rules.Settings(
        category_mode=rules.CATEGORY_RULES, rules=(phones, dell_windows, windows),
        fallback_category_id=7,
    )  # fmt: skip
    assert rules.plan(device(operatingSystem="iOS"), settings).category == ("id", 1)
    assert rules.plan(device(), settings).category == ("id", 2)
    assert rules.plan(device(manufacturer="HP"), settings).category == ("id", 3)
    assert rules.plan(device(operatingSystem="macOS"), settings).category == ("id", 7)
    excluding = rules.Settings(category_mode=rules.CATEGORY_RULES, rules=(phones,),
                               unmatched="exclude")  # fmt: skip
    assert rules.plan(device(), excluding).skip == rules.SKIP_UNMATCHED


def test_conditions():
    d = device(imei=None)
    assert rules.Condition("imei", "is_not_set").matches(d)
    assert not rules.Condition("imei", "is_set").matches(d)
    assert rules.Condition("model", "contains", "LATITUDE").matches(d)
    assert rules.Condition("complianceState", "not_equals", "noncompliant").matches(d)


def test_values_dates_and_unknown_enums():
    values = rules.plan(device(complianceState="somethingNew", managedDeviceOwnerType=None),
                        rules.Settings()).values  # fmt: skip
    assert values["csp_last_sync"] == "2026-11-30 10:00:00"
    assert values["csp_enrolled"] is False  # Intune's "never"
    assert values["csp_compliance"] == "unknown"
    assert values["csp_ownership"] == "unknown"
    assert rules.plan(device(deviceName=""), rules.Settings()).values["name"] == "5CG1234XYZ"
    assert rules.intune_datetime("2026-01-31T10:00:00+02:00") == "2026-01-31 08:00:00"
    assert rules.intune_datetime("not a date") is None
    # the shapes Microsoft's other APIs send too (dates.py): 7-digit fractions, offsets
    # without a colon, no zone at all (UTC)
    assert rules.intune_datetime("2026-01-31T10:00:00.1234567Z") == "2026-01-31 10:00:00"
    assert rules.intune_datetime("2026-01-31T10:00:00+0100") == "2026-01-31 09:00:00"
    assert rules.intune_datetime("2026-01-31T10:00:00") == "2026-01-31 10:00:00"
    assert rules.intune_datetime("2026-01-31 T10:00:00 Z") == "2026-01-31 10:00:00"
    assert rules.intune_datetime(None) is None


def test_site_allocation_modes():
    # (mode, new, linked, user site, default, current) -> site
    assert rules.site_for("all", True, True, 5, 9, None) == 5
    assert rules.site_for("all", False, True, 5, 9, 6) == 5
    assert rules.site_for("all", False, False, None, 9, 6) == 9
    assert rules.site_for("new", True, True, 5, 9, None) == 5
    assert rules.site_for("new", False, True, 5, 9, 6) == 6
    assert rules.site_for("new", False, True, 5, 9, None) == 5
    assert rules.site_for("never", True, True, 5, 9, None) == 9
    assert rules.site_for("never", False, True, 5, 9, 6) == 6
    assert rules.site_for("all", True, True, None, 9, None) == 9


def test_status_and_disappearance():
    assert rules.status_for(True, False, None, "in_use", None) == "in_use"
    assert rules.status_for(False, False, "repair", "in_use", None) == "repair"
    assert rules.status_for(False, True, "missing", "in_use", "repair") == "repair"
    assert rules.disappeared({"a", "b", "c"}, {"a"}, complete=True) == ["b", "c"]
    assert rules.disappeared({"a", "b"}, {"a"}, complete=False) == []


def test_devices_without_id_are_skipped():
    assert rules.plan(device(id=""), rules.Settings()).skip == rules.SKIP_NO_ID


def test_properties_not_sent_are_not_planned():
    sparse = {"id": "d9", "deviceName": "NW-LT-0009", "operatingSystem": "Windows"}
    plan = rules.plan(sparse, rules.Settings())
    assert set(plan.values) == {"name", "csp_os", "csp_intune_id"}
    assert plan.user_sent is False and plan.user_key is None
    nulls = rules.plan({**sparse, "model": None, "userPrincipalName": None}, rules.Settings())
    assert nulls.values["model"] is False and nulls.user_sent is True
    unnamed = rules.plan({"id": "d9", "serialNumber": "5CG1234XYZ"}, rules.Settings())
    assert "name" not in unnamed.values and unnamed.new_name == "5CG1234XYZ"
