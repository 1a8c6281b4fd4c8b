"""The billing add-on's price sheet client against the sandbox: the sheet streamed row by
row through the core's client (its body never kept in the request log), a sheet of
Microsoft's size, the sandbox's options (rows left off, marked removed, unparsable, a
price changing next month) and a refused call explained."""

import pytest
from conftest import _world, partner_center_token, pricing_token

from odoo.addons.csp_connector.microsoft.http import MicrosoftHttp
from odoo.addons.csp_connector_billing.billing.prices import RowError
from odoo.addons.csp_connector_billing.microsoft.price_sheets import (
    PriceSheetError,
    PriceSheets,
)

from mscloud_sandbox.app import Sandbox
from mscloud_sandbox.pricing import options

E5 = "CFQ7TTC0KQQ8"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(_world()) as sandbox:
        yield sandbox


@pytest.fixture
def exchanges():
    return []


@pytest.fixture
def sheets(sb, exchanges):
    token = pricing_token(sb)
    http = MicrosoftHttp(
        {"pricing": sb.urls["pricing"]}, ca_bundle=sb.ca_path, backoff=0.01,
        on_exchange=exchanges.append,
    )  # fmt: skip
    yield PriceSheets(http, lambda force_refresh=False: token)
    options(sb).clear()


def test_the_sheet_is_streamed_and_not_kept_in_the_log(sheets, exchanges):
    rows = list(sheets.rows("GB"))
    assert len(rows) > 100
    assert all(not isinstance(parsed, RowError) for _line, parsed in rows)
    assert {parsed.currency for _line, parsed in rows} == {"GBP"}
    (exchange,) = exchanges
    assert exchange.status == 200
    assert exchange.response_text().startswith("(streamed")


def test_a_sheet_of_microsofts_size(sb, sheets):
    base = sum(1 for _ in sheets.rows("US"))
    options(sb)["extra_rows"] = 20000
    count = 0
    for _line, parsed in sheets.rows("US", "future"):
        assert not isinstance(parsed, RowError)
        count += 1
    assert count == base + 20000


def test_the_sandbox_options_shape_the_sheet(sb, sheets):
    options(sb).update(
        {"omit": ["CFQ7TTC0ZGGL"], "removed": ["CFQ7TTC03ZXT"], "bad": [E5],
         "future_change": {"CFQ7TTC0LH18": 10}}
    )  # fmt: skip
    rows = list(sheets.rows("GB"))
    products = {getattr(p, "product", None) for _line, p in rows}
    assert "CFQ7TTC0ZGGL" not in products
    assert all(p.removed for _line, p in rows if p.product == "CFQ7TTC03ZXT")
    bad = [p for _line, p in rows if isinstance(p, RowError)]
    assert bad and {e.product for e in bad} == {E5}
    current = {(p.term, p.plan): p.unit_price for _l, p in rows
               if not isinstance(p, RowError) and p.product == "CFQ7TTC0LH18"}  # fmt: skip
    future = [p for _l, p in sheets.rows("GB", "future")
              if not isinstance(p, RowError) and p.product == "CFQ7TTC0LH18"]  # fmt: skip
    assert future and all(p.change == "PriceIncrease" for p in future)
    assert all(p.unit_price > current[p.term, p.plan] for p in future)


def test_a_refused_call_is_explained(sb, sheets):
    wrong = PriceSheets(sheets.http, lambda force_refresh=False: partner_center_token(sb))
    with pytest.raises(PriceSheetError) as caught:
        list(wrong.rows("GB"))
    assert caught.value.status == 401
    assert "Authorize" in caught.value.user_message()
    with pytest.raises(PriceSheetError) as caught:
        list(sheets.rows("ZZ"))
    assert "Price Market" in caught.value.user_message()
