# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Graph's partner billing usage exports (Azure consumption), plain Python.

The flow Microsoft documents: ``POST .../usage/unbilled/export`` (a billing period and a
currency) or ``.../usage/billed/export`` (an invoice) answers 202 with the operation's
``Location``; polling that operation answers ``running`` (with ``Retry-After``), then
``succeeded`` with a manifest (``resourceLocation``: a root directory, a SAS token and the
blob names) or ``failed``. Each blob is gzip-compressed JSON lines, read here streamed,
one record at a time: a file is never held in memory.

Graph calls go through the core's public client (``Graph.send``); the blobs through the
core's HTTP entry point's session, timeout, TLS settings (``verify``) and host allow-list,
to which a blob host is added explicitly (Azure Storage's, or a host the connection
already calls).
"""

import gzip
import json
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import requests
import urllib3

from odoo.addons.csp_connector.microsoft import errors
from odoo.addons.csp_connector.microsoft.errors import Explanation

BILLING = "v1.0/reports/partners/billing"
UNBILLED_EXPORT = f"{BILLING}/usage/unbilled/export"
BILLED_EXPORT = f"{BILLING}/usage/billed/export"
# Azure Storage's blob endpoints: the manifest's root directory is on one of them
BLOB_HOST_SUFFIX = ".blob.core.windows.net"
DEFAULT_RETRY_AFTER = 5.0
MAX_RETRY_AFTER = 60.0


class UsageExportError(errors.MicrosoftError):
    """An Azure usage export could not be read (explained in the table below)."""


class ExportFailedError(UsageExportError):
    """Microsoft says the export operation failed."""


class SasExpiredError(UsageExportError):
    """Azure Storage refused the blob: the manifest's SAS token has expired."""


class BlobCutError(UsageExportError):
    """A blob ended before its gzip stream did (or a line in it is not JSON)."""


class BlobReadError(UsageExportError):
    """Azure Storage refused or did not find a blob, for another reason."""


class NoOperationError(UsageExportError):
    """The 202 came without an operation to poll."""


_EXPLANATIONS = {
    ExportFailedError: Explanation(
        "Microsoft says the Azure usage export failed.",
        "Graph ran the export and reported it failed (its message is below): there is no "
        "file to read for this period, so no Azure line was written or changed for it.",
        "Nothing to do on your side if it says no data is available yet; otherwise the "
        "next run asks for a new export. If it keeps failing, check Partner Center's "
        "service health.",
    ),
    SasExpiredError: Explanation(
        "The download link of the Azure usage file has expired.",
        "Microsoft's export gives a time-limited link (SAS token) to its files; it ran out "
        "before every file was read, so nothing was written for this period.",
        "Nothing to do: the next run asks Microsoft for a new export with a new link.",
    ),
    BlobCutError: Explanation(
        "An Azure usage file came back cut short.",
        "A file of Microsoft's export ended before its end (the download was cut, or the "
        "file is damaged); read as it was, it would under-bill, so nothing was written for "
        "this period.",
        "Nothing to do: the next run reads the export again. If it repeats, check the "
        "network between Odoo and Azure Storage (a proxy limiting downloads).",
    ),
    BlobReadError: Explanation(
        "Azure Storage did not give an Azure usage file.",
        "A file listed in Microsoft's export manifest could not be downloaded (its answer "
        "is below); nothing was written for this period.",
        "The next run asks for a new export. If it repeats, check the request log.",
    ),
    NoOperationError: Explanation(
        "Graph accepted the Azure usage export without saying where to follow it.",
        "The answer had no Location header to poll.",
        "Run the step again; if it repeats, check the request log for this call.",
    ),
}
for _kind, _explanation in _EXPLANATIONS.items():
    errors.register(_kind, _explanation)


@dataclass
class Operation:
    """One poll's answer: ``status`` running / succeeded / failed."""

    status: str
    retry_after: float = 0.0
    manifest: dict | None = None
    error: str = ""


def _retry_after(response):
    value = response.headers.get("Retry-After")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _location(response):
    location = response.headers.get("Location")
    if not location:
        raise NoOperationError(
            "The export was accepted (202) without a Location header.", service="graph"
        )
    return location


def start_unbilled(graph, currency, period="current", attribute_set="full"):
    """Ask for the unbilled usage of ``period`` (current / last): the operation's URL."""
    body = {"currencyCode": currency, "billingPeriod": period, "attributeSet": attribute_set}
    return _location(graph.send("POST", UNBILLED_EXPORT, json=body))


def start_billed(graph, invoice_id, attribute_set="full"):
    """Ask for the billed usage of Microsoft's invoice ``invoice_id``: the operation's URL."""
    body = {"invoiceId": invoice_id, "attributeSet": attribute_set}
    return _location(graph.send("POST", BILLED_EXPORT, json=body))


def poll(graph, location):
    """One poll of the operation at ``location``."""
    response = graph.send("GET", location)
    body = response.json() if response.content else {}
    status = str(body.get("status") or "").lower()
    if status == "succeeded":
        manifest = body.get("resourceLocation")
        if not isinstance(manifest, dict) or not manifest.get("rootDirectory"):
            raise ExportFailedError(
                "The export succeeded without a manifest.", service="graph", status=200
            )
        return Operation("succeeded", manifest=manifest)
    if status == "failed":
        error = body.get("error") or {}
        message = error.get("message") if isinstance(error, dict) else str(error)
        return Operation("failed", error=message or "no reason given")
    # notStarted / running (or a status this code does not know yet): poll again
    return Operation("running", retry_after=_retry_after(response))


def wait(graph, location, out_of_time, sleep=time.sleep, max_wait=None):
    """Poll until the operation ends, sleeping as Retry-After says; stop when
    ``out_of_time()`` says the run's budget is spent, or after ``max_wait`` seconds
    of sleeping: the last Operation (``running``) is returned, the caller keeps
    ``location`` and polls again at the next run."""
    waited = 0.0
    while True:
        operation = poll(graph, location)
        if operation.status != "running":
            return operation
        delay = operation.retry_after
        if out_of_time() or (max_wait is not None and waited + delay > max_wait):
            return operation
        sleep(delay)
        waited += delay


def no_data(operation):
    """Whether a failed export only says there was no usage to export (an invoice or a
    period without Azure consumption): nothing to read, not a failure."""
    return operation.status == "failed" and "no data" in (operation.error or "").lower()


def failed(operation):
    return ExportFailedError(
        f"The export operation failed: {operation.error}", service="graph", code="failed"
    )


# -- blobs ------------------------------------------------------------------------------


def sas_expiry(manifest):
    """When the manifest's SAS token expires (aware datetime), or None."""
    values = parse_qs(str(manifest.get("sasToken") or "").lstrip("?"))
    expiry = (values.get("se") or [None])[0]
    try:
        return datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def blob_urls(manifest):
    """[(blob name, URL with the SAS token)] in the manifest's order."""
    root = str(manifest["rootDirectory"]).rstrip("/")
    token = str(manifest.get("sasToken") or "").lstrip("?")
    urls = []
    for blob in manifest.get("blobs") or []:
        name = blob.get("name") if isinstance(blob, dict) else None
        if name:
            urls.append((name, f"{root}/{name}?{token}" if token else f"{root}/{name}"))
    return urls


def allow_blob_host(http, url):
    """Add the blob's host to ``http``'s allow-list when it is Azure Storage's (or one
    it already calls); any other host stays refused (HostNotAllowedError)."""
    host = urlsplit(url).netloc.lower()
    if host.endswith(BLOB_HOST_SUFFIX):
        http.allowed_hosts.add(host)
    http.check_url(url)


def _storage_error(response, name):
    text = response.text[:2000]
    kind = BlobReadError
    if response.status_code == 403 and (
        "not valid in the specified time frame" in text or "expired" in text.lower()
    ):
        kind = SasExpiredError
    code = response.headers.get("x-ms-error-code")
    return kind(
        f"Azure Storage answered {response.status_code} ({code or 'no code'}) for {name}.",
        service="blobs",
        status=response.status_code,
        code=code,
        request_id=response.headers.get("x-ms-request-id"),
    )


def iter_records(http, url, name="the file"):
    """Each usage record (a dict) of one blob, downloaded and decompressed streamed.

    Raises SasExpiredError / BlobReadError for a refused download, BlobCutError when the
    gzip stream (or a line in it) ends early."""
    allow_blob_host(http, url)
    try:
        response = http.session.get(
            url, stream=True, timeout=http.timeout, verify=http.verify, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise BlobReadError(
            f"{name}: no answer from Azure Storage ({type(exc).__name__}).", service="blobs"
        ) from None
    with response:
        if response.status_code != 200:
            raise _storage_error(response, name)
        response.raw.decode_content = False
        number = 0
        try:
            with gzip.GzipFile(fileobj=response.raw) as stream:
                for number, line in enumerate(stream, 1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except ValueError:
                        raise BlobCutError(
                            f"{name}: line {number} is not a JSON record.", service="blobs"
                        ) from None
                    if isinstance(record, dict):
                        yield record
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise BlobCutError(
                f"{name} ended after {number} lines ({type(exc).__name__}: {exc}).",
                service="blobs",
            ) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise BlobCutError(
                f"{name}: the download stopped after {number} lines ({type(exc).__name__}).",
                service="blobs",
            ) from None


def iter_export(http, manifest):
    """Every record of every blob of a succeeded export, in order."""
    for name, url in blob_urls(manifest):
        yield from iter_records(http, url, name)
