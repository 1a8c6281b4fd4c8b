"""The usage export client against the sandbox: 202 -> operation -> manifest -> blobs,
every operation state, Retry-After, an expired SAS, a blob cut short; streamed."""

import pytest
from conftest import sandbox_control

from odoo.addons.csp_connector.microsoft import auth
from odoo.addons.csp_connector.microsoft.graph import Graph
from odoo.addons.csp_connector.microsoft.http import MicrosoftHttp
from odoo.addons.csp_connector_billing.billing import azure
from odoo.addons.csp_connector_billing.microsoft import usage_exports

from mscloud_sandbox import invoices as sandbox_invoices


@pytest.fixture
def graph(sandbox):
    """The core's Graph client with the partner's app token; its waits are recorded."""
    sleeps = []
    endpoints = {"login": sandbox.urls["login"], "graph": sandbox.urls["graph"]}
    http = MicrosoftHttp(endpoints, ca_bundle=sandbox.ca_path, sleep=sleeps.append)
    tenant = sandbox.world.partner_tenant_id
    gdap = sandbox.world.gdap_app
    app = auth.confidential_app(http, gdap.client_id, gdap.client_secret, tenant)
    token = lambda: auth.app_token(app, tenant=tenant)["access_token"]  # noqa: E731
    return Graph(http, token, tenant=tenant), sleeps


def behave(sandbox, **values):
    return sandbox_control(sandbox, "PUT", "/usage-exports", values)


def test_unbilled_export_running_then_succeeded_and_read_streamed(sandbox, graph):
    client, _rec = graph
    behave(sandbox, running_polls=2, retry_after=3)
    location = usage_exports.start_unbilled(client, "GBP")
    first = usage_exports.poll(client, location)
    assert first.status == "running" and first.retry_after == 3
    slept = []
    operation = usage_exports.wait(client, location, lambda: False, slept.append)
    assert operation.status == "succeeded"
    assert slept == [3]  # the second poll was still running: waited as Microsoft asked
    records = usage_exports.iter_export(client.http, operation.manifest)
    assert iter(records) is records  # a generator: one record at a time
    totals, bad = azure.aggregate(records)
    assert totals and not bad
    customers = {k.customer for k in totals}
    assert all(t.currency == "GBP" for t in totals.values())
    assert len(customers) >= 1


def test_out_of_time_keeps_the_operation_running(sandbox, graph):
    client, _rec = graph
    behave(sandbox, running_polls=5, retry_after=30)
    location = usage_exports.start_unbilled(client, "USD")
    slept = []
    operation = usage_exports.wait(client, location, lambda: True, slept.append)
    assert operation.status == "running" and not slept
    operation = usage_exports.wait(client, location, lambda: False, slept.append, max_wait=10)
    assert operation.status == "running" and not slept  # 30 s would pass the budget


def test_billed_export_per_invoice(sandbox, graph):
    """Each invoice Partner Center lists has its billed export: the usage of its month,
    of the customers billed in its currency, carrying its number."""
    client, _rec = graph
    behave(sandbox, running_polls=0)
    read = 0
    for invoice in sandbox_invoices.all_invoices(sandbox):
        location = usage_exports.start_billed(client, invoice["id"])
        operation = usage_exports.wait(client, location, lambda: False)
        if operation.status == "failed":  # no Azure customer billed in its currency
            continue
        totals, _ = azure.aggregate(usage_exports.iter_export(client.http, operation.manifest))
        assert {t.invoice for t in totals.values()} == {invoice["id"]}
        assert {t.currency for t in totals.values()} == {invoice["currencyCode"]}
        assert {k.period_start.isoformat() for k in totals} == {
            invoice["billingPeriodStartDate"][:10]
        }
        read += 1
    assert read


def test_failed_export(sandbox, graph):
    client, _rec = graph
    behave(sandbox, running_polls=0, fail="Internal error while generating the report")
    operation = usage_exports.wait(client, usage_exports.start_unbilled(client, "USD"), bool)
    assert operation.status == "failed"
    error = usage_exports.failed(operation)
    assert "Internal error" in str(error)
    assert "no Azure line was written" in error.user_message()


def test_expired_sas_and_cut_blob_are_told_apart(sandbox, graph):
    client, _rec = graph
    behave(sandbox, running_polls=0, sas_expired=True)
    operation = usage_exports.wait(client, usage_exports.start_unbilled(client, "USD"), bool)
    with pytest.raises(usage_exports.SasExpiredError) as expired:
        list(usage_exports.iter_export(client.http, operation.manifest))
    assert "expired" in expired.value.user_message()
    assert "sig=" not in str(expired.value)  # the SAS token is never in a message
    behave(sandbox, sas_expired=False, cut_blob=0)
    operation = usage_exports.wait(client, usage_exports.start_unbilled(client, "USD"), bool)
    with pytest.raises(usage_exports.BlobCutError) as cut:
        list(usage_exports.iter_export(client.http, operation.manifest))
    assert "cut short" in cut.value.user_message()


def test_a_blob_host_is_allowed_only_when_it_is_azure_storage(sandbox, graph):
    client, _rec = graph
    http = client.http
    usage_exports.allow_blob_host(http, "https://x1.blob.core.windows.net/c/part-0.json.gz")
    assert "x1.blob.core.windows.net" in http.allowed_hosts
    with pytest.raises(Exception, match="Refused"):
        usage_exports.allow_blob_host(http, "https://evil.example.com/part-0.json.gz")


def test_an_export_without_usage_is_no_failure(sandbox, graph):
    """Microsoft answers an export with nothing in it as a failed operation saying "No
    data available": an invoice without Azure usage, not a failure."""
    client, _rec = graph
    behave(sandbox, running_polls=0)
    empty = next(
        invoice
        for invoice in sandbox_invoices.all_invoices(sandbox)
        if usage_exports.wait(
            client, usage_exports.start_billed(client, invoice["id"]), bool
        ).status
        == "failed"
    )
    operation = usage_exports.wait(client, usage_exports.start_billed(client, empty["id"]), bool)
    assert usage_exports.no_data(operation)
    behave(sandbox, fail="Internal error")
    operation = usage_exports.wait(client, usage_exports.start_unbilled(client, "USD"), bool)
    assert operation.status == "failed" and not usage_exports.no_data(operation)
