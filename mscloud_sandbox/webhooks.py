"""Partner Center webhook delivery: signed POSTs to the partner's registered URL.

Each event is a JSON body ``{"EventName", "ResourceUri", "ResourceName", "AuditUri",
"ResourceChangeUtcDate"}`` sent with ``Authorization: Signature <base64 RSA-SHA256 of the
body>``, ``X-MS-Certificate-Url`` (the signing certificate, served by this module under
``/certs``) and ``X-MS-Signature-Algorithm: rsa-sha256``.  The signing certificate is
issued by the sandbox's own CA to the organisation "Microsoft Corporation", as
Partner Center's is; tests may publish more certificates under ``/certs`` (see
:func:`publish_certificate`), e.g. one from another CA or organisation.  A failed
delivery is retried (10 attempts by default, see :func:`configure`); every attempt is
recorded in :func:`state`.
"""

import base64
import json
import threading
import time
import weakref
from dataclasses import dataclass, field

import requests
import trustme
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from . import errors

CERT_NAME = "pcnotifications-dispatch"
CERT_ORGANISATION = "Microsoft Corporation"
EVENT_NAMES = [
    "test-created",
    "subscription-updated",
    "subscription-renewed",
    "usagerecords-thresholdExceeded",
    "referral-created",
    "referral-updated",
    "related-referral-created",
    "related-referral-updated",
    "dap-admin-relationship-approved",
    "dap-admin-relationship-terminated",
    "dap-admin-relationship-terminated-by-microsoft",
    "reseller-relationship-accepted-by-customer",
    "indirect-reseller-relationship-accepted-by-customer",
    "granular-admin-relationship-approved",
    "granular-admin-relationship-activated",
    "granular-admin-relationship-created",
    "granular-admin-relationship-expired",
    "granular-admin-relationship-terminated",
    "granular-admin-relationship-updated",
    "granular-admin-relationship-auto-extended",
    "granular-admin-access-assignment-activated",
    "granular-admin-access-assignment-created",
    "granular-admin-access-assignment-deleted",
    "granular-admin-access-assignment-updated",
    "invoice-ready",
    "azure-fraud-event-detected",
]
RESOURCE_NAMES = {"test-created": "test", "subscription-updated": "subscription"}


@dataclass
class WebhookState:
    """Per-sandbox webhook state: signing identity, retry policy and history."""

    private_key: object
    cert_pem: bytes
    attempts: int = 10
    delay: float = 1.0  # seconds between attempts
    timeout: float = 5.0
    deliveries: list = field(default_factory=list)  # one dict per attempt
    validation_events: dict = field(default_factory=dict)  # correlationId -> record
    published: dict = field(default_factory=dict)  # name -> PEM bytes served under /certs
    downloads: int = 0  # certificates served under /certs
    stopped: bool = False  # set by reset(): deliveries under way make no more attempts
    lock: threading.Lock = field(default_factory=threading.Lock)


_states = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


def state(sb):
    """The sandbox's WebhookState, created (and its certificate issued) on first use."""
    with _states_lock:
        found = _states.get(sb)
        if found is None:
            leaf = sb.tls.issue_cert(
                f"{CERT_NAME}.mscloud-sandbox.invalid",
                common_name=f"{CERT_NAME}.mscloud-sandbox",
                organization_name=CERT_ORGANISATION,
                key_type=trustme.KeyType.RSA,
            )
            key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
            found = WebhookState(private_key=key, cert_pem=leaf.cert_chain_pems[0].bytes())
            _states[sb] = found
        return found


def reset(sb):
    """Forget the deliveries, validation events, published certificates and downloads,
    and stop the deliveries under way (the control API's reset); the signing identity
    stays, as it comes from the sandbox's CA, which a reset keeps."""
    with _states_lock:
        old = _states.get(sb)
        if old is not None:
            old.stopped = True
            _states[sb] = WebhookState(private_key=old.private_key, cert_pem=old.cert_pem)


def configure(sb, attempts=None, delay=None, timeout=None):
    """Change the retry policy (tests use a short delay)."""
    current = state(sb)
    if attempts is not None:
        current.attempts = attempts
    if delay is not None:
        current.delay = delay
    if timeout is not None:
        current.timeout = timeout


def sign(sb, body):
    """base64 RSA-SHA256 (PKCS#1 v1.5) signature of `body` with the sandbox's key."""
    signature = state(sb).private_key.sign(body, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_signature(body_bytes, signature_b64, cert_pem):
    """True when `signature_b64` is the certificate key's RSA-SHA256 signature of the body."""
    if isinstance(cert_pem, str):
        cert_pem = cert_pem.encode("ascii")
    public_key = x509.load_pem_x509_certificate(cert_pem).public_key()
    try:
        public_key.verify(
            base64.b64decode(signature_b64), body_bytes, padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def certificate_url(sb):
    return f"{sb.base_url}/certs/{CERT_NAME}.cer"


def event_body(sb, event_name, resource_uri, audit_uri=None):
    payload = {
        "EventName": event_name,
        "ResourceUri": resource_uri,
        "ResourceName": RESOURCE_NAMES.get(event_name, event_name.split("-")[0]),
        "AuditUri": audit_uri,
        "ResourceChangeUtcDate": sb.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    return json.dumps(payload).encode("utf-8")


def _post(sb, url, body, headers, timeout):
    """One attempt: (status or None, error text or None)."""
    verify = sb.ca_path if url.lower().startswith("https:") else True
    try:
        response = requests.post(url, data=body, headers=headers, timeout=timeout, verify=verify)
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return response.status_code, None


def deliver(sb, event_name, resource_uri, customer_id=None, audit_uri=None):
    """POST one signed event to the registered webhook URL, retrying until a 2xx.

    Returns {"delivered": bool, "attempts": n, "status": last HTTP status or None}.
    Nothing is sent (attempts 0) when no webhook is registered, or when it is not
    registered for `event_name` (test events go to any registration).
    """
    registration = sb.world.webhook
    events = (registration or {}).get("WebhookEvents", [])
    if registration is None or (event_name != "test-created" and event_name not in events):
        return {"delivered": False, "attempts": 0, "status": None}
    current = state(sb)
    url = registration["WebhookUrl"]
    body = event_body(sb, event_name, resource_uri, audit_uri)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Authorization": f"Signature {sign(sb, body)}",
        "X-MS-Certificate-Url": certificate_url(sb),
        "X-MS-Signature-Algorithm": "rsa-sha256",
    }
    status = None
    for attempt in range(1, current.attempts + 1):
        if attempt > 1:
            time.sleep(current.delay)
        if current.stopped:
            break
        status, error = _post(sb, url, body, headers, current.timeout)
        with current.lock:
            current.deliveries.append(
                {
                    "event": event_name,
                    "url": url,
                    "customerId": customer_id,
                    "resourceUri": resource_uri,
                    "attempt": attempt,
                    "status": status,
                    "error": error,
                    "at": sb.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
        if status is not None and 200 <= status < 300:
            return {"delivered": True, "attempts": attempt, "status": status}
    return {"delivered": False, "attempts": current.attempts, "status": status}


def deliver_later(sb, event_name, resource_uri, customer_id=None, audit_uri=None, done=None):
    """deliver() in a background thread; `done(result)` is called with its result."""

    def run():
        result = deliver(sb, event_name, resource_uri, customer_id, audit_uri)
        if done is not None:
            done(result)

    thread = threading.Thread(target=run, name=f"webhook-{event_name}", daemon=True)
    thread.start()
    return thread


def publish_certificate(sb, name, pem):
    """Serve `pem` (bytes) at ``/certs/<name>.cer`` too (not the signing certificate)."""
    current = state(sb)
    with current.lock:
        current.published[name] = pem


def serve_certificate(sb, request, name):
    current = state(sb)
    with current.lock:
        current.downloads += 1
        pem = current.cert_pem if name == CERT_NAME else current.published.get(name)
    if pem is None:
        raise errors.ApiError(errors.json_response({"error": "not_found"}, 404))
    return Response(
        pem,
        content_type="application/x-x509-ca-cert",
        headers={"Content-Disposition": f'attachment; filename="{name}.cer"'},
    )


url_map = Map(
    [Rule("/<name>.cer", endpoint=serve_certificate, methods=["GET"])], strict_slashes=False
)
