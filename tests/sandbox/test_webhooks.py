"""Partner Center webhooks: registration, signed deliveries to a local receiver, retries."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import trustme
from conftest import partner_center_token
from cryptography import x509

from mscloud_sandbox import webhooks


class Receiver:
    """A tiny HTTP server recording POSTs; answers `fail_first` 500s before 200s."""

    def __init__(self, fail_first=0):
        self.events = []
        self.fail_first = fail_first
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.arrived:
                    failing = receiver.fail_first > 0
                    receiver.fail_first -= 1
                    if not failing:
                        receiver.events.append((dict(self.headers), body))
                    receiver.arrived.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/csp/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count, timeout=10):
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.events) >= count, timeout)
        return self.events[count - 1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


def _call(sb, method, path, token, body=None):
    return requests.request(
        method,
        sb.urls["partner_center"] + path,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        verify=sb.ca_path,
    )


def _register(sb, token, url, events=("subscription-updated", "test-created")):
    return _call(
        sb,
        "POST",
        "/webhooks/v1/registration",
        token,
        {"WebhookUrl": url, "WebhookEvents": list(events)},
    )


def test_registration_lifecycle(sandbox, receiver):
    sb = sandbox
    token = partner_center_token(sb)
    names = _call(sb, "GET", "/webhooks/v1/registration/events", token).json()
    assert {"test-created", "subscription-updated"} <= set(names)
    assert _call(sb, "GET", "/webhooks/v1/registration", token).status_code == 404
    created = _register(sb, token, receiver.url)
    assert created.status_code == 200, created.text
    assert created.json() == {
        "SubscriberId": sb.world.partner_tenant_id,
        "WebhookUrl": receiver.url,
        "WebhookEvents": ["subscription-updated", "test-created"],
    }
    assert _register(sb, token, receiver.url).status_code == 409
    updated = _call(
        sb,
        "PUT",
        "/webhooks/v1/registration",
        token,
        {"WebhookUrl": receiver.url + "/v2", "WebhookEvents": ["test-created"]},
    )
    assert updated.json()["WebhookUrl"].endswith("/v2")
    assert _call(sb, "GET", "/webhooks/v1/registration", token).json() == updated.json()
    assert _register(sb, token, "ftp://example", ["test-created"]).status_code == 400
    assert _call(sb, "DELETE", "/webhooks/v1/registration", token).status_code == 204
    assert _register(sb, token, receiver.url, ["no-such-event"]).status_code == 400


def test_validation_event_is_signed_and_verifiable(sandbox, receiver):
    sb = sandbox
    token = partner_center_token(sb)
    assert _register(sb, token, receiver.url).status_code == 200
    started = _call(sb, "POST", "/webhooks/v1/registration/validationEvents", token)
    correlation_id = started.json()["correlationId"]

    headers, body = receiver.wait(1)
    event = json.loads(body)
    assert event["EventName"] == "test-created"
    assert event["ResourceUri"].endswith(f"/validationEvents/{correlation_id}")
    assert set(event) == {
        "EventName",
        "ResourceUri",
        "ResourceName",
        "AuditUri",
        "ResourceChangeUtcDate",
    }
    scheme, _, signature = headers["Authorization"].partition(" ")
    assert scheme == "Signature"
    assert headers["X-MS-Signature-Algorithm"] == "rsa-sha256"
    certificate = requests.get(headers["X-MS-Certificate-Url"], verify=sb.ca_path)
    assert certificate.status_code == 200
    assert webhooks.verify_signature(body, signature, certificate.content)
    assert not webhooks.verify_signature(
        body.replace(b"test", b"tset"), signature, certificate.content
    )

    deadline = time.monotonic() + 5
    while True:
        status = _call(
            sb, "GET", f"/webhooks/v1/registration/validationEvents/{correlation_id}", token
        ).json()
        if status["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert status["status"] == "completed"
    assert status["events"][0]["eventName"] == "test-created"


def test_subscription_change_delivers_subscription_updated(sandbox, receiver):
    sb = sandbox
    token = partner_center_token(sb)
    assert _register(sb, token, receiver.url, ["subscription-updated"]).status_code == 200
    tenant = next(t for t in sb.world.tenants.values() if t.reseller)
    sub = next(
        s
        for s in tenant.subscriptions
        if s.status == "active" and not s.scheduledNextTermInstructions
    )
    path = f"/v1/customers/{tenant.id}/subscriptions/{sub.id}"
    body = _call(sb, "GET", path, token).json()
    changed = _call(
        sb, "PATCH", path, token, {**body, "autoRenewEnabled": not sub.autoRenewEnabled}
    )
    assert changed.status_code == 200
    headers, raw = receiver.wait(1)
    event = json.loads(raw)
    assert event["EventName"] == "subscription-updated"
    assert event["ResourceUri"] == f"{sb.urls['partner_center']}{path}"
    assert event["ResourceName"] == "subscription"
    cert = requests.get(headers["X-MS-Certificate-Url"], verify=sb.ca_path).content
    assert webhooks.verify_signature(raw, headers["Authorization"].split(" ", 1)[1], cert)


def test_failed_deliveries_are_retried_and_recorded(sandbox):
    sb = sandbox
    flaky = Receiver(fail_first=2)
    try:
        webhooks.configure(sb, attempts=4, delay=0.01)
        sb.world.webhook = {"WebhookUrl": flaky.url, "WebhookEvents": ["subscription-updated"]}
        result = webhooks.deliver(sb, "subscription-updated", f"{sb.base_url}/x", "customer")
        assert result == {"delivered": True, "attempts": 3, "status": 200}
        assert len(flaky.events) == 1
        statuses = [d["status"] for d in webhooks.state(sb).deliveries]
        assert statuses == [500, 500, 200]
        assert webhooks.deliver(sb, "invoice-ready", "x")["attempts"] == 0
        sb.world.webhook = {
            "WebhookUrl": "http://127.0.0.1:9/none",
            "WebhookEvents": ["invoice-ready"],
        }
        gone = webhooks.deliver(sb, "invoice-ready", "x")
        assert gone == {"delivered": False, "attempts": 4, "status": None}
    finally:
        flaky.close()


def test_published_certificates_are_served_beside_the_signing_one(sandbox):
    """Tests sign events with keys of their own: the sandbox serves their certificates."""
    other = trustme.CA(organization_name="Someone Else").cert_pem.bytes().decode()
    url = requests.post(
        f"{sandbox.urls['control']}/webhooks/certificates",
        json={"name": "rogue", "pem": other},
        verify=sandbox.ca_path,
        timeout=10,
    ).json()["url"]
    assert requests.get(url, verify=sandbox.ca_path, timeout=10).text == other
    signing = requests.get(webhooks.certificate_url(sandbox), verify=sandbox.ca_path, timeout=10)
    subject = x509.load_pem_x509_certificate(signing.content).subject
    assert subject.rfc4514_string().find("O=Microsoft Corporation") >= 0
    bad = requests.post(
        f"{sandbox.urls['control']}/webhooks/certificates",
        json={"name": webhooks.CERT_NAME, "pem": other},
        verify=sandbox.ca_path,
        timeout=10,
    )
    assert bad.status_code == 400
