"""Microsoft's billing calendar, the states and the words of the reconciliation, decided in
billing/reconcile.py: dates given explicitly (no frozen clock), amounts worked out by hand."""

import datetime as dt

import pytest

from odoo.addons.csp_connector_billing.billing import reconcile
from odoo.addons.csp_connector_billing.billing.reconcile import Cause, LineState, ReportState

CUSTOMER = "d7f565f5-5367-492f-a465-9e2057c5e3c3"
DECEMBER = dt.date(2026, 12, 1)
RAW_CODES = ("new", "renew", "cycleCharge", "addQuantity", "removeQuantity", "cancelImmediate")


@pytest.mark.parametrize(
    ("month", "today", "billed"),
    [
        (DECEMBER, dt.date(2026, 12, 4), False),  # the current month never is
        (DECEMBER, dt.date(2026, 12, 31), False),
        (DECEMBER, dt.date(2027, 1, 6), False),  # Microsoft invoices between the 6th...
        (DECEMBER, dt.date(2027, 1, 8), False),  # ... and the 8th
        (DECEMBER, dt.date(2027, 1, 9), True),
        (dt.date(2026, 11, 1), dt.date(2026, 12, 4), False),  # the previous, before the 9th
        (dt.date(2026, 11, 1), dt.date(2026, 12, 9), True),
        (dt.date(2024, 2, 1), dt.date(2024, 3, 9), True),
        (dt.date(2026, 12, 17), dt.date(2027, 1, 9), True),  # any day names its month
    ],
)
def test_microsoft_invoices_a_month_between_the_6th_and_8th_of_the_next(month, today, billed):
    assert reconcile.is_billed(month, today) is billed


def test_the_invoice_days_and_the_note():
    assert reconcile.invoice_days(DECEMBER) == (dt.date(2027, 1, 6), dt.date(2027, 1, 8))
    note = reconcile.not_billed_note(DECEMBER)
    assert note.startswith(
        "Not billed yet \N{EM DASH} Microsoft invoices this month between the 6th and 8th "
        "of next month (6\N{EN DASH}8 January 2027)."
    )


def _charge(kind, amount, quantity=2, start=dt.date(2026, 12, 14), price="10.00"):
    return reconcile.charge("sub-a", kind, start, dt.date(2027, 1, 13), quantity, price,
                            amount, start)  # fmt: skip


def _item(kind, amount, quantity=2, start="2026-12-14", price=10):
    return {"customerId": CUSTOMER, "subscriptionId": "sub-a", "chargeType": kind,
            "chargeStartDate": start, "chargeEndDate": "2027-01-13", "quantity": quantity,
            "unitPrice": price, "subtotal": amount, "orderDate": f"{start}T10:00:00Z"}  # fmt: skip


def test_a_month_not_billed_yet_expects_what_microsoft_has_not_listed():
    ours = [_charge("new", "20.00"), _charge("addQuantity", "3.87", quantity=1)]
    items = [_item("new", 20)]  # the seat added this morning: not listed by Microsoft yet
    report = reconcile.reconcile(CUSTOMER, DECEMBER, ours, items, billed=False)
    assert report.differences == ()
    assert report.matched == 1
    (expected,) = report.others
    assert (expected.state, expected.kind) == (LineState.EXPECTED, Cause.NOT_BILLED_YET)
    assert expected.cause == (
        "Microsoft has not billed this charge yet: it invoices December 2026 between 6 and "
        "8 January 2027. Reconcile the month again after that to compare it with the invoice."
    )
    assert report.state == ReportState.NOT_BILLED
    assert report.total_difference == 0
    # once Microsoft has invoiced the month, the same line differs
    report = reconcile.reconcile(CUSTOMER, DECEMBER, ours, items, billed=True)
    (difference,) = report.differences
    assert (difference.state, difference.kind) == (LineState.DIFFERS, Cause.ODOO_ONLY)
    assert difference.cause.startswith("Microsoft has not billed this charge: Partner Center")
    assert report.state == ReportState.DIFFERENCES
    assert report.total_difference == reconcile.Decimal("-3.87")


def test_a_difference_of_0_00_never_differs():
    # a change Odoo recorded at a cost of 0.00 (no Microsoft cost): nothing to pay or claim
    ours = [_charge("new", "20.00"), _charge("addQuantity", "0.00", quantity=1)]
    report = reconcile.reconcile(CUSTOMER, DECEMBER, ours, [_item("new", 20)], billed=True)
    assert report.differences == ()
    (zero,) = report.others
    assert (zero.state, zero.amount) == (LineState.MATCHES, 0)
    assert report.state == ReportState.MATCHES
    # the same days billed at other dates for the same amount: the money agrees
    moved = [_charge("new", "20.00", start=dt.date(2026, 12, 15))]
    report = reconcile.reconcile(CUSTOMER, DECEMBER, moved, [_item("new", 20)])
    assert report.differences == ()
    assert [d.state for d in report.others] == [LineState.MATCHES]
    assert reconcile.line_state(Cause.PRICE, "0.004") == LineState.MATCHES  # under a cent
    assert reconcile.line_state(Cause.PRICE, "-0.01") == LineState.DIFFERS


def test_the_header_follows_the_lines():
    # a price Microsoft already shows differs, also in a month it has not invoiced yet
    ours = [_charge("new", "22.00", price="11.00")]
    report = reconcile.reconcile(CUSTOMER, DECEMBER, ours, [_item("new", 20)], billed=False)
    (difference,) = report.differences
    assert (difference.state, difference.kind) == (LineState.DIFFERS, Cause.PRICE)
    assert report.state == ReportState.DIFFERENCES
    # an item Partner Center sent without its amount cannot be compared: not a match
    unreadable = dict(_item("new", 20))
    del unreadable["subtotal"]
    report = reconcile.reconcile(CUSTOMER, DECEMBER, [], [unreadable], billed=False)
    assert [d.state for d in report.differences] == [LineState.NOT_COMPARED]
    assert report.state == ReportState.DIFFERENCES
    assert reconcile.report_state([], billed=False) == ReportState.NOT_BILLED
    assert reconcile.report_state([LineState.MATCHES, LineState.EXPECTED], billed=False) == (
        ReportState.NOT_BILLED
    )
    assert reconcile.report_state([LineState.MATCHES]) == ReportState.MATCHES
    assert reconcile.report_state([LineState.MATCHES, LineState.DIFFERS]) == (
        ReportState.DIFFERENCES
    )
    assert reconcile.report_state([LineState.NOT_COMPARED]) == ReportState.DIFFERENCES


def test_charge_types_and_states_are_words():
    words = {code: reconcile.charge_words(code) for code in RAW_CODES}
    assert words == {
        "new": "New subscription", "renew": "Renewal", "cycleCharge": "Cycle charge",
        "addQuantity": "Seats added", "removeQuantity": "Seats removed",
        "cancelImmediate": "Cancelled",
    }  # fmt: skip
    assert reconcile.charge_words("AddQuantity") == "Seats added"  # Microsoft's case varies
    assert reconcile.charge_key("RENEW") == "renew"
    assert reconcile.charge_words("someNewCharge") == "Other Microsoft charge"
    assert reconcile.charge_key("someNewCharge") == reconcile.OTHER_CHARGE
    assert reconcile.REPORT_STATE_WORDS[ReportState.NOT_BILLED] == "Not billed yet"
    assert "Reconciled" not in reconcile.REPORT_STATE_WORDS.values()
    assert set(reconcile.CAUSE_WORDS) == set(Cause)


@pytest.mark.parametrize("billed", [True, False])
def test_every_explanation_is_a_sentence_without_partner_center_codes(billed):
    late = dt.date(2026, 12, 20)  # the sync saw the removal a day after Microsoft
    ours = [
        _charge("new", "22.00", price="11.00"),  # price changed
        _charge("addQuantity", "3.87", quantity=1),  # ours only
        reconcile.charge("sub-a", "removeQuantity", late, dt.date(2027, 1, 13), 1, "10.00",
                         "-7.74", late, "seen", 25, 31),
    ]  # fmt: skip
    items = [_item("new", 20), _item("removeQuantity", "-8.06", quantity=1, start="2026-12-19"),
             _item("cancelImmediate", -20)]  # fmt: skip
    report = reconcile.reconcile(CUSTOMER, DECEMBER, ours, items, billed=billed)
    lines = report.differences + report.others
    assert {d.kind for d in lines} == {
        Cause.PRICE, Cause.SEEN_LATE, Cause.MICROSOFT_ONLY,
        Cause.ODOO_ONLY if billed else Cause.NOT_BILLED_YET,
    }  # fmt: skip
    for difference in lines:
        assert difference.cause[0].isupper() and difference.cause.endswith("."), difference
        assert not any(code in difference.cause.split() for code in RAW_CODES), difference
