"""The sandbox's Intune device list after devices are added and removed (control API)."""

import pytest
import requests
from conftest import graph_token

from odoo.addons.csp_connector.microsoft import errors
from odoo.addons.csp_connector.microsoft.graph import Graph, ReadCheck
from odoo.addons.csp_connector.microsoft.http import MicrosoftHttp
from odoo.addons.csp_connector_assets.microsoft.devices import managed_devices


def _ids(sb, tenant_id):
    token = graph_token(sb, tenant_id)
    url, params, ids = f"{sb.urls['graph']}/v1.0/deviceManagement/managedDevices", {"$top": 3}, []
    while url:
        response = requests.get(
            url, params=params, headers={"Authorization": f"Bearer {token}"},
            verify=sb.ca_path, timeout=30,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        ids += [device["id"] for device in response.json()["value"]]
        url, params = response.json().get("@odata.nextLink"), None
    return ids


def test_list_follows_devices_added_and_removed_at_the_same_count(sandbox):
    tenant_id = next(iter(sandbox.world.tenants))
    control = f"{sandbox.urls['control']}/tenants/{tenant_id}/devices"
    before = _ids(sandbox, tenant_id)
    added = requests.post(control, json={"deviceName": "A"}, verify=sandbox.ca_path, timeout=30)
    requests.delete(f"{control}/{before[0]}", verify=sandbox.ca_path, timeout=30)
    after = _ids(sandbox, tenant_id)
    assert len(after) == len(before)
    assert set(after) == (set(before) - {before[0]}) | {added.json()["id"]}


def _graph(sb, tenant_id):
    endpoints = {"login": sb.urls["login"], "graph": sb.urls["graph"]}
    http = MicrosoftHttp(endpoints, ca_bundle=sb.ca_path, sleep=lambda _s: None)
    return Graph(http, lambda: graph_token(sb, tenant_id), tenant=tenant_id)


def test_managed_devices_pages_prove_a_complete_read_with_count(sandbox):
    tenant_id = next(iter(sandbox.world.tenants))
    total = len(sandbox.world.tenants[tenant_id].devices) or len(_ids(sandbox, tenant_id))
    check = ReadCheck(delta=False)
    read = []
    for page in managed_devices(_graph(sandbox, tenant_id), "id", page_size=4, count=True):
        read += check.page(page)
    check.finish()
    assert check.expected == total == len(read) > 4

    # a page cut short (half its devices, no nextLink): the count gives it away
    sandbox.faults.add(service="graph", path="managedDevices", body="cut", times=1)
    check = ReadCheck(delta=False)
    for page in managed_devices(_graph(sandbox, tenant_id), "id", page_size=4, count=True):
        check.page(page)
    with pytest.raises(errors.IncompleteReadError):
        check.finish()
