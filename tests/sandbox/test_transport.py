"""The sandbox's HTTP transport: connections are kept alive, as Microsoft's are."""

import pytest
import requests
import urllib3.connection
from conftest import graph_token


@pytest.fixture
def connects(monkeypatch):
    """How many TLS connections the client opened (new ones and reconnections)."""
    opened = []
    connect = urllib3.connection.HTTPSConnection.connect

    def counting(self):
        opened.append(self.port)
        return connect(self)

    monkeypatch.setattr(urllib3.connection.HTTPSConnection, "connect", counting)
    return opened


def test_one_tls_connection_serves_many_requests(sandbox, connects):
    token = graph_token(sandbox, next(iter(sandbox.world.tenants)))
    url = f"{sandbox.urls['graph']}/v1.0/users"
    connects.clear()  # the token came over MSAL's own connection
    with requests.Session() as session:
        for _ in range(5):
            response = session.get(
                url, headers={"Authorization": f"Bearer {token}"}, verify=sandbox.ca_path
            )
            assert response.status_code in (200, 403), response.text
            assert response.headers.get("Connection", "").lower() != "close"
    assert len(connects) == 1


def test_an_unread_request_body_does_not_break_the_next_request(sandbox, connects):
    """A body the endpoint never reads (here: a 404) is drained before the next request."""
    base = sandbox.base_url
    with requests.Session() as session:
        missing = session.post(
            f"{base}/graph/v1.0/nothing-here", data=b"x" * 200_000, verify=sandbox.ca_path
        )
        assert missing.status_code in (400, 401, 404)
        discovery = session.get(
            f"{base}/{sandbox.world.partner_tenant_id}/v2.0/.well-known/openid-configuration",
            verify=sandbox.ca_path,
        )
        assert discovery.status_code == 200
        assert "token_endpoint" in discovery.json()
    assert len(connects) == 1
