"""The price sheet's plain rules: a row parsed or its failure explained (line, column,
value), the key and fingerprint a price is stored under, which row prices a
subscription, what a contract line's price becomes under each policy and when."""

import datetime as dt
from decimal import Decimal

import pytest

from odoo.addons.csp_connector_billing.billing import prices
from odoo.addons.csp_connector_billing.microsoft.price_sheets import (
    PriceSheetError,
    iter_lines,
    read_csv,
)

HEADER = (
    "ChangeIndicator,ProductTitle,ProductId,SkuId,SkuTitle,Publisher,SkuDescription,"
    "UnitOfMeasure,TermDuration,BillingPlan,Market,Currency,UnitPrice,PricingTierRangeMin,"
    "PricingTierRangeMax,EffectiveStartDate,EffectiveEndDate,Tags,ERP Price,Segment\r\n"
)


def row(**changes):
    values = {
        "ChangeIndicator": "Unchanged", "ProductTitle": "Microsoft 365 E5",
        "ProductId": "CFQ7TTC0KQQ8", "SkuId": "0001", "SkuTitle": "Microsoft 365 E5",
        "TermDuration": "P1Y", "BillingPlan": "Monthly", "Market": "GB", "Currency": "GBP",
        "UnitPrice": "46.50", "ERP Price": "51.20",
        "EffectiveStartDate": "2026-12-01T00:00:00Z",
        "EffectiveEndDate": "2026-12-31T23:59:59Z",
    }  # fmt: skip
    values.update(changes)
    return values


def test_a_row_parses_to_its_prices_dates_and_key():
    parsed = prices.parse_row(row(), 2)
    assert parsed.unit_price == Decimal("46.50")
    assert parsed.erp_price == Decimal("51.20")
    assert (parsed.start, parsed.end) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert parsed.key == "GB|CFQ7TTC0KQQ8|0001|P1Y|Monthly|2026-12-01"
    assert not parsed.removed
    assert prices.parse_row(row(ChangeIndicator="Removed"), 2).removed
    # no ERP price: the list price is the unit price
    assert prices.parse_row(row(**{"ERP Price": ""}), 2).erp_price == Decimal("46.50")


def test_the_fingerprint_changes_with_the_price_only():
    same = prices.parse_row(row(), 2).fingerprint
    assert prices.parse_row(row(), 9).fingerprint == same  # another line, same row
    assert prices.parse_row(row(UnitPrice="47.00"), 2).fingerprint != same
    assert prices.parse_row(row(ChangeIndicator="Removed"), 2).fingerprint != same


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"UnitPrice": "n/a"}, "UnitPrice 'n/a' is not a number"),
        ({"UnitPrice": "-3"}, "UnitPrice '-3' is not a price"),
        ({"UnitPrice": "NaN"}, "UnitPrice 'NaN' is not a price"),
        ({"EffectiveStartDate": "soon"}, "EffectiveStartDate 'soon' is not a date"),
        ({"Market": "GBR"}, "Market 'GBR' is not a two-letter market"),
        ({"SkuId": "", "Currency": " "}, "no value in SkuId, Currency"),
    ],
)
def test_a_row_that_does_not_parse_names_its_line_column_and_value(changes, reason):
    with pytest.raises(prices.RowError) as caught:
        prices.parse_row(row(**changes), 17)
    assert caught.value.line == 17
    assert caught.value.reason == reason
    assert caught.value.product == "CFQ7TTC0KQQ8"


def test_bad_rows_are_explained_with_cause_and_fix():
    errors = [prices.RowError(n, "UnitPrice 'x' is not a number", "P") for n in range(2, 10)]
    text = prices.explain_bad_rows(errors, 1000)
    assert text.startswith("8 of 1000 price sheet rows did not parse and were skipped")
    assert "line 2 (P): UnitPrice 'x' is not a number" in text
    assert "and 3 more" in text
    assert "report them to Microsoft support" in text
    assert prices.explain_bad_rows([], 1000) == ""


def test_a_subscription_is_priced_by_its_offer_term_and_plan():
    assert prices.offer_parts("CFQ7TTC0KQQ8:0001:CFQ7TTC0K5DJ") == ("CFQ7TTC0KQQ8", "0001")
    assert prices.offer_parts("cfq7ttc0kqq8:0001") == ("CFQ7TTC0KQQ8", "0001")
    assert prices.offer_parts("91fd106f-4b2c-4938-95ac-f54f74e9a239") == (None, None)
    assert prices.price_key("CFQ7TTC0KQQ8:0001", "p1y", "annual") == (
        "CFQ7TTC0KQQ8", "0001", "P1Y", "Annual",
    )  # fmt: skip
    assert prices.price_key("CFQ7TTC0KQQ8:0001", "P1M", "none") is None  # free: no row


class Row:
    def __init__(self, start, end=None, removed=False):
        self.start, self.end, self.removed = start, end, removed


def test_the_row_in_force_is_the_latest_started_not_removed():
    december = Row(dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    january = Row(dt.date(2027, 1, 1), dt.date(2027, 1, 31))
    gone = Row(dt.date(2026, 12, 15), removed=True)
    rows = [december, january, gone]
    assert prices.in_force(rows, dt.date(2026, 12, 20)) is december
    assert prices.in_force(rows, dt.date(2027, 1, 1)) is january
    assert prices.in_force(rows, dt.date(2026, 11, 30)) is None


def test_the_three_policies():
    # the cost goes from 10.00 to 11.00, the list price is 13.00; the line sells at 15.00
    args = (Decimal("15"), Decimal("10"), Decimal("11"), Decimal("13"))
    assert prices.line_price(prices.KEEP, *args) == (Decimal("15.00"), "keep")
    assert prices.line_price(prices.MARGIN, *args) == (Decimal("16.50"), "margin")
    assert prices.margin_percent(15, 10) == prices.margin_percent(Decimal("16.50"), 11)
    assert prices.line_price(prices.LIST, *args) == (Decimal("13.00"), "list")
    # no old cost known: the margin cannot be kept, the line keeps its price
    assert prices.line_price(prices.MARGIN, 15, 0, 11, 13) == (Decimal("15.00"), "no_cost")


def test_a_price_waits_for_the_period_it_belongs_to():
    january = dt.date(2027, 1, 1)
    assert prices.line_due(january, dt.date(2027, 1, 1))  # next period starts with it
    assert prices.line_due(january, dt.date(2027, 2, 1))  # January invoiced already
    assert not prices.line_due(january, dt.date(2026, 12, 1))  # December not invoiced
    assert prices.next_month(dt.date(2026, 12, 31)) == january
    assert prices.next_month(dt.date(2027, 1, 31)) == dt.date(2027, 2, 1)


def test_the_sheet_is_read_from_chunks_row_by_row():
    text = HEADER + ",".join(['Unchanged,"E5, with\nnewline"', "CFQ7TTC0KQQ8", "0001",
                              "E5", "MS", "d", "1 License", "P1Y", "Annual", "GB", "GBP",
                              "558.00", "", "", "2026-12-01T00:00:00Z",
                              "2026-12-31T23:59:59Z", "License", "600.00", "Commercial"]
                             ) + "\r\n"  # fmt: skip
    chunks = [text[i : i + 7] for i in range(0, len(text), 7)]  # cut anywhere
    assert "".join(iter_lines(chunks)) == text
    (line, parsed), *rest = list(read_csv(chunks))
    assert rest == []
    assert (line, parsed.unit_price, parsed.plan) == (2, Decimal("558.00"), "Annual")


def test_a_sheet_without_the_needed_columns_is_refused_with_its_explanation():
    with pytest.raises(PriceSheetError) as caught:
        list(read_csv(["ProductId,SkuId\r\nA,B\r\n"]))
    assert "no usable header row" in caught.value.user_message()
