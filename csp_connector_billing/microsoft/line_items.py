# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The reconciliation's Partner Center calls: the partner's unbilled reconciliation line
items, read with the core client's paged read (each page proven whole)."""

from odoo.addons.csp_connector.microsoft import errors

from .errors import BillingReadError, InvoiceReadError

LINE_ITEMS = "v1/invoices/unbilled/lineitems"
PAGE_SIZE = 2000  # Partner Center's maximum for reconciliation line items


def unbilled_line_items(partner_center, currency, period="current", page_size=PAGE_SIZE):
    """The partner's unbilled reconciliation line items of licence-based (new commerce)
    purchases: ``GET /v1/invoices/unbilled/lineitems?provider=onetime
    &invoicelineitemtype=billinglineitems``, in ``currency`` (ISO code), for the
    ``period`` "current" or "previous" (calendar month), every customer, across all pages
    (``links.next`` with the ``MS-ContinuationToken`` header), through ``partner_center``
    (the core's ``PartnerCenter`` client). Items are yielded as Partner Center sent them
    (billing/reconcile.py reads their fields, which may be absent). Any failure raises
    :class:`BillingReadError`, explained for billing by the page that failed: a page that
    is not whole (a cut page would look like charges Microsoft did not make), a refusal,
    or a later page that failed after the first ones came ("part-way through", never "no
    billing data")."""
    params = {
        "provider": "onetime",
        "invoicelineitemtype": "billinglineitems",
        "currencycode": currency.upper(),
        "period": period,
        "size": page_size,
    }
    try:
        yield from partner_center.items(LINE_ITEMS, params)
    except BillingReadError:
        raise
    except errors.MicrosoftError as exc:
        raise BillingReadError.wrapping(exc) from exc


INVOICES = "v1/invoices"
INVOICE_PAGE_SIZE = 200
# a billed invoice's reconciliation line items: licence-based (new commerce) and its
# Azure plan charges are the one-time provider's billing line items
INVOICE_LINE_ITEMS = "v1/invoices/{invoice_id}/lineitems"


def invoices(partner_center, page_size=INVOICE_PAGE_SIZE):
    """The partner's invoices (``GET /v1/invoices``), every page proven whole; each item
    as Partner Center sent it (billing/reconcile.py ``month_invoices`` reads the billing
    period). Failures raise :class:`InvoiceReadError`."""
    try:
        yield from partner_center.items(INVOICES, {"size": page_size})
    except InvoiceReadError:
        raise
    except errors.MicrosoftError as exc:
        raise InvoiceReadError.wrapping(exc) from exc


def invoice_line_items(partner_center, invoice_id, page_size=PAGE_SIZE):
    """The reconciliation line items of Microsoft's billed invoice ``invoice_id``:
    ``GET /v1/invoices/{id}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems``
    (licences bought in new commerce and the Azure plan's charges), across all pages
    (``links.next`` with ``MS-ContinuationToken``), each page proven whole. Items are
    yielded as sent; failures raise :class:`InvoiceReadError`, as for the unbilled
    items (a cut page, or a later page that failed, is never "no charges")."""
    params = {
        "provider": "onetime",
        "invoicelineitemtype": "billinglineitems",
        "size": page_size,
    }
    path = INVOICE_LINE_ITEMS.format(invoice_id=invoice_id.strip())
    try:
        yield from partner_center.items(path, params)
    except InvoiceReadError:
        raise
    except errors.MicrosoftError as exc:
        raise InvoiceReadError.wrapping(exc) from exc
