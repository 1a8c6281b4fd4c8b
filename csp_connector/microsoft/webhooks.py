"""Partner Center webhook events: is this POST really from Partner Center?

Partner Center signs each event body with RSA-SHA256 (PKCS#1 v1.5) and names the
signing certificate by URL. An event is accepted only when, in this order:
the body is small and the headers are there; the body is a Partner Center event recent
enough (its age is judged before anything is fetched); the certificate URL is https on a
host (and port) allowed for the connection, without user info, and only the URL rebuilt
from those checked parts is fetched (:func:`certificate_url`); the certificate chains,
signature by signature and within each validity period, to one of the trusted roots; it
is a signing certificate (not a CA, key usage digitalSignature) named for one of the
expected names and owned by the expected organisation; its RSA key verifies the
signature over the exact bytes received. Anything else raises :class:`WebhookRefused`.

Written for ``cryptography`` 3.4 (Odoo 18.0's pin): no ``x509.verification`` there, so
the chain is checked by hand with each issuer's public key.
"""

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from .dates import parse_datetime
from .safe_text import one_line

_DER = Encoding.DER
_RESOURCE = re.compile(
    r"/customers/(?P<customer>[0-9a-fA-F-]{36})(?:/subscriptions/(?P<subscription>[^/?#]+))?"
)

MAX_BODY = 16 * 1024  # Partner Center's events are a few hundred bytes
MAX_CERTIFICATE = 64 * 1024
MAX_CHAIN = 6
# The replay window. An event older than MAX_AGE is refused (401): a captured body sent
# again later. Partner Center may deliver a subscription-updated up to 48 h late and retries
# a failed delivery, so the window is wider than that; the events received are kept longer
# than the window (models/csp_webhook.py), so a body sent again inside the window is known
# by its digest. An event dated more than MAX_AHEAD in the future is refused too (it would
# outlive that memory), and so is an undated one (its age cannot be judged).
MAX_AGE = timedelta(days=7)
MAX_AHEAD = timedelta(hours=1)  # clock skew between Partner Center and this server
DEFAULT_ORGANISATION = "Microsoft Corporation"
# Partner Center publishes its signing certificate on this blob storage host
DEFAULT_CERTIFICATE_HOSTS = ("3psostorageacct.blob.core.windows.net",)
# ... and its subject names a Microsoft host: a name equal to one of these, or below one
DEFAULT_CERTIFICATE_NAMES = ("microsoft.com",)
HTTPS_PORT = 443
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$")
_URL_TEXT = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no space


class WebhookRefused(Exception):
    """An event not accepted; ``status`` is the HTTP answer (401, or 400/413)."""

    def __init__(self, reason, status=401):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class WebhookEvent:
    name: str
    resource_uri: str
    resource_name: str
    audit_uri: str
    changed_at: object  # aware datetime
    customer_id: str | None
    subscription_id: str | None
    digest: str  # sha256 of the body: the same delivery twice has the same digest


def resource_ids(uri):
    """(customer id, subscription id or None) named by a Partner Center resource URI."""
    match = _RESOURCE.search(uri or "")
    if not match:
        return None, None
    subscription = match.group("subscription")
    return match.group("customer").lower(), subscription.lower() if subscription else None


def _headers(headers):
    return {str(key).lower(): str(value) for key, value in dict(headers).items()}


def signature_from(headers):
    """The base64 signature: ``Authorization: Signature <b64>`` or ``x-ms-signature``."""
    auth = headers.get("authorization", "").strip()
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "signature" or not value.strip():
            raise WebhookRefused("The Authorization header is not a 'Signature' header.")
        return value.strip()
    if headers.get("x-ms-signature", "").strip():
        return headers["x-ms-signature"].strip()
    raise WebhookRefused("The event carries no signature (Authorization: Signature ...).")


def _allowed_places(allowed_hosts):
    """{(host, port)} from entries "host" (port 443) or "host:port"."""
    places = set()
    for entry in allowed_hosts or ():
        host, _, port = (entry or "").strip().lower().rpartition(":")
        if not host:  # no colon: the whole entry is the host
            host, port = port, ""
        if not port:
            places.add((host, HTTPS_PORT))
        elif port.isdigit() and 0 < int(port) < 65536:
            places.add((host, int(port)))
    return places


def certificate_url(url, allowed_hosts):
    """The certificate URL to fetch, rebuilt from its checked parts, or WebhookRefused.

    One parser decides and builds what is fetched: https only, no user info, a plain
    host name (or IPv4 address) on `allowed_hosts` with the port that entry allows (443
    unless the entry says "host:port"), the path and query re-encoded. A URL any part of
    which a different parser could read otherwise (a backslash, a space, a control or
    non-ASCII character, an "@") is refused whole, never repaired.
    """
    text = url or ""
    shown = one_line(text, 200)
    refused = WebhookRefused(
        f"The certificate URL's host is not one allowed for this connection ({shown})."
    )
    if not _URL_TEXT.match(text) or "\\" in text:
        raise refused
    try:
        parts = urlsplit(text)
        port = HTTPS_PORT if parts.port is None else parts.port
    except ValueError:
        raise refused from None
    host = (parts.hostname or "").lower()
    if (
        parts.scheme.lower() != "https"
        or "@" in parts.netloc
        or parts.username is not None
        or not _HOST.match(host)
        or (host, port) not in _allowed_places(allowed_hosts)
    ):
        raise refused
    netloc = host if port == HTTPS_PORT else f"{host}:{port}"
    path = quote(parts.path or "/", safe="/-._~%!$&'()*+,;=:")
    query = urlencode(parse_qsl(parts.query, keep_blank_values=True))
    return f"https://{netloc}{path}" + (f"?{query}" if query else "")


def load_certificates(data):
    """Certificates in PEM (one or several) or DER bytes; [] when it is neither."""
    if not data:
        return []
    if b"-----BEGIN CERTIFICATE-----" in data:
        found = []
        for chunk in data.split(b"-----END CERTIFICATE-----")[:-1]:
            start = chunk.find(b"-----BEGIN CERTIFICATE-----")
            if start < 0:
                continue
            pem = chunk[start:] + b"-----END CERTIFICATE-----\n"
            try:
                found.append(x509.load_pem_x509_certificate(pem))
            except ValueError:
                continue
        return found
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        return []


def _signed_by(cert, issuer):
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       cert.signature_hash_algorithm)  # fmt: skip
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes,
                       ec.ECDSA(cert.signature_hash_algorithm))  # fmt: skip
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        return False
    return True


def _is_ca(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _valid_at(cert, now):
    naive = now.astimezone(UTC).replace(tzinfo=None)  # cryptography 3.4 dates are naive UTC
    return cert.not_valid_before <= naive <= cert.not_valid_after


def _describe(cert):
    return one_line(cert.subject.rfc4514_string(), 200)


def verify_chain(leaf, intermediates, roots, now):
    """Raise WebhookRefused unless `leaf` chains to one of `roots` at `now`."""
    if not _valid_at(leaf, now):
        raise WebhookRefused(
            f"The signing certificate ({_describe(leaf)}) is expired or not yet valid."
        )
    root_ders = {root.public_bytes(_DER) for root in roots}
    current = leaf
    for _depth in range(MAX_CHAIN):
        for issuer in [*roots, *intermediates]:
            if issuer.subject != current.issuer or not _signed_by(current, issuer):
                continue
            if not _valid_at(issuer, now):
                continue
            if issuer.public_bytes(_DER) in root_ders:
                return
            if not _is_ca(issuer):
                continue
            current = issuer
            break
        else:
            raise WebhookRefused(
                f"The signing certificate ({_describe(leaf)}) does not chain to a trusted "
                "root certificate."
            )
    raise WebhookRefused("The signing certificate's chain is too long.")


def organisations(cert):
    return [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def certificate_names(cert):
    """The host names a certificate is issued to: its DNS subject alternative names and
    its subject's common names, lower case."""
    names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    try:
        alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        alternative = None
    if alternative is not None:
        names += alternative.value.get_values_for_type(x509.DNSName)
    return [str(name).strip().lower() for name in names]


def name_allowed(names, expected):
    """True when one of `names` is one of `expected` or a host below one (never a
    wildcard name: a signing certificate names one service)."""
    wanted = [e.strip().lower().lstrip(".") for e in expected or () if e and e.strip()]
    return any(
        "*" not in name and (name == want or name.endswith(f".{want}"))
        for name in names
        for want in wanted
    )


def check_signer(leaf, organisation, expected_names):
    """WebhookRefused unless `leaf` is a signing certificate (not a CA, key usage with
    digitalSignature) named for `expected_names` and owned by `organisation`."""
    if _is_ca(leaf):
        raise WebhookRefused(
            f"The signing certificate ({_describe(leaf)}) is a certificate authority's, "
            "not a signer's."
        )
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        signs = usage.digital_signature
    except x509.ExtensionNotFound:
        signs = False
    if not signs:
        raise WebhookRefused(
            f"The certificate ({_describe(leaf)}) is not made for signing (its key usage "
            "lacks digitalSignature)."
        )
    names = certificate_names(leaf)
    if not name_allowed(names, expected_names):
        raise WebhookRefused(
            f"The signing certificate is issued to {one_line(', '.join(names), 200) or 'no name'}, "
            f"not to a name under {', '.join(expected_names)}."
        )
    expected = (organisation or "").strip().casefold()
    owners = organisations(leaf)
    if expected not in [o.strip().casefold() for o in owners]:
        raise WebhookRefused(
            f"The signing certificate belongs to "
            f"{one_line(', '.join(owners), 200) or 'no organisation'}, not {organisation}."
        )


def parse_event(body, now=None, max_age=MAX_AGE):
    """The event in a JSON body, or WebhookRefused(400)."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WebhookRefused("The event body is not UTF-8 JSON.", 400) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("EventName"), str):
        raise WebhookRefused("The event body has no EventName.", 400)
    text = {key: payload.get(key) if isinstance(payload.get(key), str) else ""
            for key in ("ResourceUri", "ResourceName", "AuditUri")}  # fmt: skip
    changed_at = parse_datetime(payload.get("ResourceChangeUtcDate"))
    if changed_at is None:
        raise WebhookRefused(
            "The event has no readable ResourceChangeUtcDate, so a replay cannot be told "
            "from a new event.",
            400,
        )
    if now is not None and now - changed_at > max_age:
        raise WebhookRefused(
            f"The event is from {changed_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, older than "
            f"the {max_age.days} days accepted: a replay of an old delivery."
        )
    if now is not None and changed_at - now > MAX_AHEAD:
        raise WebhookRefused(
            f"The event is dated {changed_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, in the "
            "future: refused (check this server's clock if Partner Center's events keep "
            "being refused for this)."
        )
    customer, subscription = resource_ids(text["ResourceUri"])
    return WebhookEvent(
        name=payload["EventName"].strip(),
        resource_uri=text["ResourceUri"],
        resource_name=text["ResourceName"],
        audit_uri=text["AuditUri"],
        changed_at=changed_at,
        customer_id=customer,
        subscription_id=subscription,
        digest=hashlib.sha256(body).hexdigest(),
    )


def verify(body, headers, *, allowed_hosts, roots, fetch_certificate,
           organisation=DEFAULT_ORGANISATION, names=DEFAULT_CERTIFICATE_NAMES, now=None,
           max_age=MAX_AGE):  # fmt: skip
    """The WebhookEvent in a signed Partner Center POST, or WebhookRefused.

    ``roots``: trusted root certificates (x509 objects); ``fetch_certificate(url)``
    returns the bytes served at the certificate URL (it is only called with the URL
    :func:`certificate_url` rebuilt, for an event whose age is acceptable); ``names``:
    the host names the signing certificate may be issued to (or below); ``now``: an aware
    datetime (the validity dates are checked against it).
    """
    now = now or datetime.now(UTC)
    if len(body) > MAX_BODY:
        raise WebhookRefused(f"The event body is larger than {MAX_BODY} bytes.", 413)
    headers = _headers(headers)
    signature_text = signature_from(headers)
    algorithm = headers.get("x-ms-signature-algorithm", "").strip().lower()
    if algorithm != "rsa-sha256":
        raise WebhookRefused(
            f"Unsupported signature algorithm {one_line(algorithm, 40)!r} (rsa-sha256 expected)."
        )
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRefused("The signature is not base64.") from None
    # the body's shape and age first: a replayed old delivery costs no download
    event = parse_event(body, now=now, max_age=max_age)
    url = certificate_url(headers.get("x-ms-certificate-url", "").strip(), allowed_hosts)
    data = fetch_certificate(url)
    if data is not None and len(data) > MAX_CERTIFICATE:
        raise WebhookRefused("The certificate served at the certificate URL is too large.")
    certificates = load_certificates(data)
    if not certificates:
        raise WebhookRefused("No certificate could be read from the certificate URL.")
    leaf, intermediates = certificates[0], certificates[1:]
    verify_chain(leaf, intermediates, roots, now)
    check_signer(leaf, organisation, names)
    key = leaf.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRefused("The signing certificate's key is not an RSA key.")
    try:
        key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise WebhookRefused("The signature does not match the event body.") from None
    return event
