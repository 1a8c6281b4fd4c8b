"""Partner billing usage exports: 202, polling, manifest, SAS-protected gzip blobs."""

import gzip
import json

import pytest
import requests
from conftest import graph_token

from mscloud_sandbox.usage_exports import BASIC_ATTRIBUTES, azure_customers

FULL_ATTRIBUTES = {
    "PartnerId",
    "CustomerId",
    "CustomerName",
    "CustomerDomainName",
    "InvoiceNumber",
    "ProductId",
    "SkuId",
    "AvailabilityId",
    "SkuName",
    "ProductName",
    "PublisherName",
    "SubscriptionId",
    "SubscriptionDescription",
    "ChargeStartDate",
    "ChargeEndDate",
    "UsageDate",
    "MeterType",
    "MeterCategory",
    "MeterId",
    "MeterSubCategory",
    "MeterName",
    "MeterRegion",
    "Unit",
    "ResourceLocation",
    "ConsumedService",
    "ResourceGroup",
    "ResourceURI",
    "ChargeType",
    "UnitPrice",
    "Quantity",
    "UnitType",
    "BillingPreTaxTotal",
    "BillingCurrency",
    "PricingPreTaxTotal",
    "PricingCurrency",
    "EntitlementId",
    "EntitlementDescription",
    "PartnerEarnedCreditPercentage",
    "CreditPercentage",
    "CreditType",
    "BenefitType",
}


def start(sb, kind, body, tenant_id=None):
    token = graph_token(sb, tenant_id or sb.world.partner_tenant_id)
    return requests.post(
        f"{sb.urls['graph']}/v1.0/reports/partners/billing/usage/{kind}/export",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        verify=sb.ca_path,
        timeout=30,
    )


def poll(sb, location):
    token = graph_token(sb, sb.world.partner_tenant_id)
    response = requests.get(
        location, headers={"Authorization": f"Bearer {token}"}, verify=sb.ca_path, timeout=30
    )
    assert response.status_code == 200, response.text
    return response


def run_export(sb, kind, body):
    """202 -> running -> succeeded; the manifest."""
    accepted = start(sb, kind, body)
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["Location"]
    assert "/v1.0/reports/partners/billing/operations/" in location
    running = poll(sb, location)
    assert running.json()["status"] == "running"
    assert int(running.headers["Retry-After"]) > 0
    done = poll(sb, location).json()
    assert done["status"] == "succeeded", done
    assert done["@odata.type"] == "#microsoft.graph.partners.billing.exportSuccessOperation"
    return done["resourceLocation"]


def blob_url(manifest, blob):
    return f"{manifest['rootDirectory']}/{blob['name']}"


def download(sb, manifest):
    """Every record of every blob of the manifest."""
    records = []
    for blob in manifest["blobs"]:
        response = requests.get(
            f"{blob_url(manifest, blob)}?{manifest['sasToken']}", verify=sb.ca_path, timeout=30
        )
        assert response.status_code == 200, response.text
        lines = gzip.decompress(response.content).decode().splitlines()
        records.extend(json.loads(line) for line in lines)
    return records


UNBILLED = {"billingPeriod": "last", "currencyCode": "GBP", "attributeSet": "full"}


def test_unbilled_export_end_to_end(sandbox):
    manifest = run_export(sandbox, "unbilled", UNBILLED)
    assert manifest["dataFormat"] == "compressedJSON"
    assert manifest["partnerTenantId"] == sandbox.world.partner_tenant_id
    # the six-tenant world has more usage lines than one blob holds
    assert manifest["blobCount"] == len(manifest["blobs"]) > 1
    assert manifest["rootDirectory"].startswith(f"{sandbox.base_url}/blobs/")

    records = download(sandbox, manifest)
    assert records
    assert all(set(record) >= FULL_ATTRIBUTES for record in records)
    customers = {t.id for t in azure_customers(sandbox.world)}
    assert {r["CustomerId"] for r in records} == customers
    assert {r["BillingCurrency"] for r in records} == {"GBP"}
    assert {r["PricingCurrency"] for r in records} == {"USD"}
    assert {r["InvoiceNumber"] for r in records} == {""}
    months = {r["UsageDate"][:7] for r in records}
    assert len(months) == 1
    assert all(r["ChargeStartDate"] <= r["UsageDate"] <= r["ChargeEndDate"] for r in records)
    for record in records:
        expected = record["Quantity"] * record["EffectiveUnitPrice"] * record["PCToBCExchangeRate"]
        assert record["BillingPreTaxTotal"] == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_exports_of_the_same_period_hold_the_same_lines(sandbox):
    first = download(sandbox, run_export(sandbox, "unbilled", UNBILLED))
    second = download(sandbox, run_export(sandbox, "unbilled", UNBILLED))
    assert first == second


def test_basic_attribute_set_and_billed_export(sandbox):
    body = {"invoiceId": "G012345678", "attributeSet": "basic"}
    records = download(sandbox, run_export(sandbox, "billed", body))
    assert records
    assert {frozenset(r) for r in records} == {frozenset(BASIC_ATTRIBUTES)}
    assert {r["InvoiceNumber"] for r in records} == {"G012345678"}


def test_blobs_need_the_sas_token(sandbox):
    manifest = run_export(sandbox, "unbilled", UNBILLED)
    url = blob_url(manifest, manifest["blobs"][0])
    bare = requests.get(url, verify=sandbox.ca_path, timeout=30)
    assert bare.status_code == 403
    assert "<Code>AuthenticationFailed</Code>" in bare.text
    forged = manifest["sasToken"].replace("sig=", "sig=A")
    assert requests.get(f"{url}?{forged}", verify=sandbox.ca_path, timeout=30).status_code == 403

    sandbox.clock.advance(13 * 3600)
    late = requests.get(f"{url}?{manifest['sasToken']}", verify=sandbox.ca_path, timeout=30)
    assert late.status_code == 403
    assert "time frame" in late.text


def test_exports_are_for_the_partner_and_validated(sandbox):
    special = sandbox.world.special
    excluded = {*special["no_consent"], special["consent_blocked"]}
    customer_id = next(t for t in sandbox.world.tenants if t not in excluded)
    refused = start(sandbox, "unbilled", UNBILLED, tenant_id=customer_id)
    assert refused.status_code == 403
    invalid = start(sandbox, "unbilled", {**UNBILLED, "billingPeriod": "nextYear"})
    assert invalid.status_code == 400
    assert start(sandbox, "billed", {"attributeSet": "full"}).status_code == 400
