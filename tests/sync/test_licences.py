"""Licence plans: SKU names, subscribed SKUs, subscriptions, audit records."""

import csv
import pathlib
from datetime import datetime

import pytest

from odoo.addons.csp_connector.sync import licences

DATA = pathlib.Path(__file__).resolve().parents[2] / "csp_connector/data/csp.sku.name.csv"
BASIC = "3b555118-da6a-4418-894f-7df1e2096870"
UNKNOWN = "00000000-1111-4222-8333-444444444444"


@pytest.fixture(scope="module")
def names():
    with open(DATA, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return licences.SkuNames.from_rows((r["sku_id"], r["part_number"], r["name"]) for r in rows)


def test_shipped_names_cover_microsofts_list(names):
    with open(DATA, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 620
    assert len({r["sku_id"] for r in rows}) == 620
    assert all(r["id"] == "sku_" + r["sku_id"].replace("-", "_") for r in rows)
    assert names.resolve(BASIC.upper(), None) == ("Microsoft 365 Business Basic", True)


def test_part_number_names_only_when_unique(names):
    # a new SKU id with a known part number still gets its name (whitespace/case differ)
    assert names.resolve(UNKNOWN, " o365_business_ESSENTIALS ") == (
        "Microsoft 365 Business Basic",
        True,
    )
    # MCOPSTN5 names two products in Microsoft's list: never guessed
    assert names.resolve(UNKNOWN, "MCOPSTN5") == ("MCOPSTN5", False)
    assert names.resolve(UNKNOWN, "NEW_SKU_2027") == ("NEW_SKU_2027", False)
    assert names.resolve(UNKNOWN, None) == (UNKNOWN, False)


def test_subscribed_sku_plan(names):
    item = {
        "skuId": BASIC.upper(),
        "skuPartNumber": "O365_BUSINESS_ESSENTIALS",
        "prepaidUnits": {"enabled": 25, "suspended": 2, "warning": 1, "lockedOut": 0},
        "consumedUnits": 20,
        "capabilityStatus": "Enabled",
        "subscriptionIds": ["B-2", "a-1"],
    }
    values = licences.plan_subscribed_sku(item, names)
    assert values == {
        "microsoft_id": BASIC,
        "sku_id": BASIC,
        "part_number": "O365_BUSINESS_ESSENTIALS",
        "product_name": "Microsoft 365 Business Basic",
        "name_unknown": False,
        "enabled_units": 25,
        "suspended_units": 2,
        "warning_units": 1,
        "locked_out_units": 0,
        "consumed_units": 20,
        "capability_status": "Enabled",
        "subscription_refs": "a-1 b-2",
    }
    assert licences.unassigned_units(25, 20) == 5
    assert licences.unassigned_units(3, 5) == 0


def test_unknown_sku_imports_by_part_number_and_missing_fields_stay_out(names):
    values = licences.plan_subscribed_sku({"skuId": UNKNOWN, "skuPartNumber": "X_NEW"}, names)
    assert values["product_name"] == "X_NEW" and values["name_unknown"]
    # nothing sent about units: nothing planned (a sync never empties what it was not sent)
    assert "enabled_units" not in values and "consumed_units" not in values


@pytest.mark.parametrize("item", [None, {}, {"skuId": "not-a-guid"}, {"skuId": 5}])
def test_bad_sku_items_are_refused(names, item):
    with pytest.raises(licences.BadRecord):
        licences.plan_subscribed_sku(item, names)


def test_subscription_plan():
    item = {
        "id": "ABC-1",
        "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DJ",
        "friendlyName": "Basic for sales",
        "quantity": 12,
        "status": "Active",
        "billingCycle": "monthly",
        "termDuration": "P1Y",
        "autoRenewEnabled": True,
        "effectiveStartDate": "2026-01-02T00:00:00.1234567Z",
        "commitmentEndDate": "2027-01-01T00:00:00Z",
        "refundableQuantity": {
            "totalQuantity": 3,
            "details": [{"quantity": 3, "allowedUntilDateTime": "2026-11-30T10:00:00Z"}],
        },
        "scheduledNextTermInstructions": None,
        "productType": {"id": "OnlineServicesNCE"},
    }
    values = licences.plan_subscription(item)
    assert values["microsoft_id"] == "abc-1"
    assert values["status"] == "active" and values["quantity"] == 12
    assert values["start_date"] == datetime(2026, 1, 2, 0, 0, 0, 123456)
    assert values["commitment_end_date"] == datetime(2027, 1, 1)
    assert values["auto_renew"] is True
    assert '"quantity": 3' in values["refundable_details"]
    assert values["next_term_instructions"] is False
    assert "creation_date" not in values  # not sent: left alone
    assert licences.plan_subscription({"id": "x", "status": "weird"})["status"] == "other"
    with pytest.raises(licences.BadRecord):
        licences.plan_subscription({"offerId": "no id"})


def test_subscription_plan_null_clears_absent_keeps_and_unset_dates():
    item = {
        "id": "ABC-1",
        "promotionId": None,
        "friendlyName": "  ",
        "refundableQuantity": None,
        "productType": None,
        "quantity": True,
        "creationDate": "0001-01-01T00:00:00",
        "effectiveStartDate": "2026-03-01T10:00:00.1234567+01:00",
        "commitmentEndDate": None,
    }
    values = licences.plan_subscription(item)
    assert values["promotion_id"] is False and values["friendly_name"] is False
    assert values["refundable_details"] is False and values["product_type"] is False
    assert "quantity" not in values, "true is not a quantity"
    assert values["creation_date"] is False, "Partner Center's unset date"
    assert values["start_date"] == datetime(2026, 3, 1, 9, 0, 0, 123456)
    assert values["commitment_end_date"] is False
    for absent in ("offer_id", "status", "billing_cycle", "auto_renew", "next_term_instructions"):
        assert absent not in values


def test_subscribed_sku_plan_null_and_odd_counts(names):
    item = {"skuId": BASIC, "prepaidUnits": {"enabled": None, "warning": False},
            "consumedUnits": "3", "subscriptionIds": None}  # fmt: skip
    values = licences.plan_subscribed_sku(item, names)
    assert values["subscription_refs"] is False
    for field in ("enabled_units", "warning_units", "consumed_units"):
        assert field not in values


def test_import_types():
    assert licences.effective_import_type(None, None) == "skus"
    assert licences.effective_import_type("subscriptions", None) == "subscriptions"
    assert licences.effective_import_type("subscriptions", "both") == "both"
    assert licences.reads_skus("both") and licences.reads_subscriptions("both")
    assert not licences.reads_skus("subscriptions") and not licences.reads_subscriptions("skus")


def test_assignment_pairs_keep_only_subscribed_skus():
    pairs = licences.assignment_pairs({1: [BASIC.upper(), UNKNOWN], 2: []}, [BASIC])
    assert pairs == {(1, BASIC)}


def test_audit_changes_name_subscriptions_per_customer():
    customer = "AAAAAAAA-0000-4000-8000-000000000001"
    records = [
        {"customerId": customer, "resourceType": "Subscription",
         "customizedData": [{"key": "SubscriptionId", "value": "S-1"}]},
        {"customerId": customer, "resourceType": "Subscription",
         "resourceNewValue": '{"id": "s-2"}'},
        {"customerId": customer, "resourceType": "Subscription", "resourceNewValue": "oops"},
        {"customerId": customer, "resourceType": "Customer"},
        {"customerId": "nope", "resourceType": "Subscription"},
    ]  # fmt: skip
    assert licences.audit_changes(records) == {customer.lower(): {"s-1", "s-2", licences.ALL}}
    # a purchase (order) or a transfer may add subscriptions: the whole list is read
    other = "AAAAAAAA-0000-4000-8000-000000000002"
    third = "AAAAAAAA-0000-4000-8000-000000000003"
    records = [
        {"customerId": other, "resourceType": "order", "operationType": "create_order"},
        {"customerId": third, "resourceType": "subscription",
         "customizedData": [{"Key": "SubscriptionId", "Value": "S-9"}]},
        {"customerId": third, "resourceType": None},
        {"customerId": third, "resourceType": "license"},
    ]  # fmt: skip
    assert licences.audit_changes(records) == {
        other.lower(): {licences.ALL},
        third.lower(): {"s-9"},
    }


def test_audit_times_keep_each_subscriptions_latest_change_in_utc():
    customer = "AAAAAAAA-0000-4000-8000-000000000001"

    def record(sub_id, when):
        return {"customerId": customer, "resourceType": "Subscription", "operationDate": when,
                "customizedData": [{"key": "SubscriptionId", "value": sub_id}]}  # fmt: skip

    records = [
        record("S-1", "2026-06-05T10:00:00.1234567Z"),
        record("s-1", "2026-06-05T12:30:00+02:00"),  # 10:30 UTC: the later one
        record("s-2", "2026-06-04 T09:00:00 Z"),
        record("s-3", "not a date"),  # left out, as a record without a subscription id
        {"customerId": customer, "resourceType": "Subscription", "operationDate": "2026-06-05"},
    ]
    assert licences.audit_times(records) == {
        customer.lower(): {"s-1": "2026-06-05T10:30:00Z", "s-2": "2026-06-04T09:00:00Z"}
    }
