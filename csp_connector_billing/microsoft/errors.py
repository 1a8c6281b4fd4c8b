# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What a failed read of the partner's billing data means, in plain words: registered in
the core's explanation table (``errors.register``) when this module is imported, so
``error.user_message()`` explains it wherever it is shown."""

from odoo.addons.csp_connector.microsoft import errors
from odoo.addons.csp_connector.microsoft.errors import Explanation


class BillingReadError(errors.MicrosoftError):
    """Reading the partner's billing data (reconciliation line items) failed: explained
    for billing by the page that failed and why (``original``: the error as raised),
    not as a customer-list refusal."""


_BILLING = {
    403: Explanation(
        "Partner Center refused to show the billing data.",
        "Reconciliation line items are the partner's billing data: the account that "
        "authorised the connection needs the Billing admin (or Global admin) role in "
        "Partner Center; Admin agent alone is not enough.",
        "Give that account the Billing admin role in Partner Center (Account settings -> "
        "User management), then click 'Authorize' on the connection and reconcile again.",
    ),
    400: Explanation(
        "Partner Center did not accept the reconciliation request.",
        "The currency is not one the partner is billed in, or the month asked for is "
        "neither the current nor the previous billing period (the only unbilled periods).",
        "Reconcile the current or the previous month only, in the currency of your Partner "
        "Center billing profile (the company's currency).",
    ),
    404: Explanation(
        "Partner Center has no unbilled billing data for this request.",
        "The partner account has no open billing period in this currency yet (a new "
        "account, or one billed in another currency).",
        "Check the currency of your Partner Center billing profile; reconcile again once "
        "the period has charges.",
    ),
}
_BILLING_CUT = Explanation(
    "Partner Center's line items came back cut short, so nothing was compared.",
    "A page of the line items was empty, had no list of items or held fewer "
    "items than it announced (a proxy cut the answer, or Partner Center had a transient "
    "fault); compared as it was, it would show charges Microsoft did make as missing.",
    "Reconcile again in a few minutes: the line items are read again from the first "
    "page. If it repeats, check the request log for these calls.",
)


def _billing_part_way(page):
    return Explanation(
        f"Partner Center stopped answering part-way through the line items (page {page}).",
        "The first pages came, then a later one failed (its continuation was lost, it timed "
        "out, or Partner Center had a transient fault). It does not mean there is no "
        "billing data: the pages before it had line items.",
        "Reconcile again in a few minutes: the line items are read again from the first "
        "page. If it repeats, check the request log for these calls and Partner Center's "
        "service health.",
    )


def explain_billing_read(error):
    """A failed read of the unbilled line items, explained by the page that failed."""
    if error.page and error.page > 1:
        return _billing_part_way(error.page)
    original = error.original
    if isinstance(original, errors.IncompleteReadError):
        return _BILLING_CUT
    if error.status in _BILLING:
        return _BILLING[error.status]
    return errors.explain(original) if original is not None else errors.GENERIC


errors.register(BillingReadError, explain_billing_read)


class InvoiceReadError(BillingReadError):
    """Reading Microsoft's billed invoices or an invoice's reconciliation line items
    failed: explained as billing's, but a refusal of the request is about the invoice."""


_INVOICE = {
    **_BILLING,
    400: Explanation(
        "Partner Center did not accept the request for the invoice's line items.",
        "The invoice is not one of the partner's one-time (new commerce) invoices, or "
        "Partner Center no longer serves its line items this way.",
        "Compare the month with the invoice's reconciliation file in Partner Center "
        "(Billing -> Invoices), and tell your Odoo partner which invoice it was.",
    ),
    404: Explanation(
        "Partner Center does not find Microsoft's invoice or its line items.",
        "The invoice was listed, then not found (Microsoft replaced it, or its line items "
        "are not published yet: they come with the invoice, between the 6th and 8th).",
        "Reconcile again in a day; if it repeats, open the invoice in Partner Center.",
    ),
}


def explain_invoice_read(error):
    """A failed read of Microsoft's invoices, explained by the page that failed."""
    if error.page and error.page > 1:
        return _billing_part_way(error.page)
    original = error.original
    if isinstance(original, errors.IncompleteReadError):
        return _BILLING_CUT
    if error.status in _INVOICE:
        return _INVOICE[error.status]
    return errors.explain(original) if original is not None else errors.GENERIC


errors.register(InvoiceReadError, explain_invoice_read)
