"""The sandbox's Intune device list after devices are added and removed (control API)."""

import requests
from conftest import graph_token


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
