# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Partner Center's licence-based price sheet, streamed row by row (no ORM here).

``GET https://api.partner.microsoft.com/v1.0/sales/pricesheets(Market='US',
PricesheetView='updatedlicensebased')/$value?timeline=current|history|future&month=YYYYMM``
answers a CSV file of 100,000 rows and more: it is read from the socket through
``csv.DictReader`` one row at a time, never held whole. The call needs the partner's
app+user token for the pricing API (application id below), which the connection's
stored Partner Center sign-in gives (``csp.connection._csp_delegated_token``).
"""

import codecs
import csv

from odoo.addons.csp_connector.microsoft import errors
from odoo.addons.csp_connector.microsoft.errors import Explanation

from ..billing import prices

# Partner Center's pricing API (Microsoft's application id), delegated permission
PRICING_SCOPES = ("4990cffe-04e8-4e8b-808a-1175604b879f/user_impersonation",)
VIEW = "updatedlicensebased"
PATH = "v1.0/sales/pricesheets(Market='{market}',PricesheetView='{view}')/$value"
TIMELINES = ("current", "history", "future")


class PriceSheetError(errors.MicrosoftError):
    """Reading a price sheet failed: explained for prices (``original``: as raised)."""


_EXPLAINED = {
    400: Explanation(
        "Microsoft's pricing API refused the price sheet request.",
        "The market on the connection is not one Microsoft serves for this view, or the "
        "month asked for is not available.",
        "Check the connection's Price Market (a two-letter market Microsoft sells in, "
        "e.g. US, GB, AU), then import the prices again.",
    ),
    401: Explanation(
        "Microsoft's pricing API did not accept the connection's sign-in.",
        "The price sheet needs the partner's signed-in user (app+user) for the pricing "
        "API; the stored sign-in has no consent for it, or it expired.",
        "Click 'Authorize' on the connection again (an account with the Admin agent or "
        "Sales agent role), then import the prices again.",
    ),
    403: Explanation(
        "Microsoft's pricing API refused to show the price sheet.",
        "The account that authorised the connection lacks a Partner Center role that "
        "may read prices (Admin agent, Sales agent or Billing admin).",
        "Give that account one of these roles in Partner Center, click 'Authorize' on "
        "the connection and import the prices again.",
    ),
}
_HEADER = Explanation(
    "Microsoft's price sheet has no usable header row.",
    "The file's first row lacks columns the import needs (a cut or changed file).",
    "Import the prices again later; if it repeats, the file's format changed: report it.",
)


def explain_price_sheet(error):
    original = error.original
    if error.code == "header":
        return _HEADER
    if error.status in _EXPLAINED:
        return _EXPLAINED[error.status]
    return errors.explain(original) if original is not None else errors.GENERIC


errors.register(PriceSheetError, explain_price_sheet)


class PriceSheets:
    """The pricing API through the core's ``MicrosoftHttp`` (retries, log, redaction);
    ``token(force_refresh=False)`` gives the delegated access token."""

    def __init__(self, http, token):
        self.http = http
        self.token = token

    def open(self, market, timeline="current", month=None):
        """The streamed answer (``requests.Response``) for one market and timeline."""
        if timeline not in TIMELINES:
            raise ValueError(f"timeline must be one of {TIMELINES}")
        params = {"timeline": timeline}
        if month:
            params["month"] = month
        try:
            return self.http.request(
                "GET", self.http.url("pricing", PATH.format(market=market, view=VIEW)),
                service="pricing", params=params, headers={"Accept": "text/csv"},
                auth=lambda: {"Authorization": f"Bearer {self.token()}"},
                reauth=lambda: {"Authorization": f"Bearer {self.token(force_refresh=True)}"},
                stream=True,
            )  # fmt: skip
        except errors.OutOfTime:
            raise
        except errors.MicrosoftError as exc:
            raise PriceSheetError.wrapping(exc) from None

    def rows(self, market, timeline="current", month=None):
        """``(line, PriceRow or RowError)`` for each row of the sheet, streamed."""
        response = self.open(market, timeline, month)
        try:
            yield from read_csv(iter_text(response))
        finally:
            response.close()


def iter_text(response, chunk_size=64 * 1024):
    """The answer's text in chunks as it arrives (UTF-8, a byte-order mark dropped)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    for chunk in response.iter_content(chunk_size=chunk_size):
        text = decoder.decode(chunk)
        if text:
            yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def iter_lines(chunks):
    """Lines (ending kept) of a text given in chunks: what ``csv`` reads, so a quoted
    value spanning lines stays whole."""
    pending = ""
    for chunk in chunks:
        pending += chunk
        start = 0
        while True:
            end = pending.find("\n", start)
            if end < 0:
                break
            yield pending[start : end + 1]
            start = end + 1
        pending = pending[start:]
    if pending:
        yield pending


def read_csv(chunks):
    """``(line, PriceRow or RowError)`` of a price sheet given as text chunks; a header
    without the needed columns raises ``PriceSheetError`` (code ``header``)."""
    reader = csv.DictReader(iter_lines(chunks))
    missing = prices.check_header(reader.fieldnames)
    if missing:
        raise PriceSheetError(
            f"The price sheet's header lacks {', '.join(missing)}.", service="pricing",
            code="header",
        )  # fmt: skip
    yield from prices.parse_rows(reader)
