"""The license-based price sheet served as CSV for each market."""

import csv
import io
from decimal import Decimal

import pytest
import requests
from conftest import partner_center_token, pricing_token

from mscloud_sandbox.pricing import COLUMNS

SHEET = "/v1.0/sales/pricesheets(Market='{market}',PricesheetView='{view}')/$value"


@pytest.fixture(scope="module")
def token(sandbox_session):
    return pricing_token(sandbox_session)


def _get(sb, token, market="US", view="updatedlicensebased", **params):
    return requests.get(
        sb.urls["pricing"] + SHEET.format(market=market, view=view),
        params=params,
        headers={"Authorization": f"Bearer {token}"} if token else {},
        verify=sb.ca_path,
    )


def _rows(response):
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(response.text))
    assert reader.fieldnames == COLUMNS
    return list(reader)


@pytest.mark.parametrize(
    ("market", "currency"),
    [("GB", "GBP"), ("US", "USD"), ("AU", "AUD"), ("CA", "CAD"), ("NZ", "NZD")],
)
def test_each_market_has_its_currency_and_consistent_prices(
    sandbox_session, token, market, currency
):
    rows = _rows(_get(sandbox_session, token, market))
    assert len(rows) > 100
    assert {r["Market"] for r in rows} == {market}
    assert {r["Currency"] for r in rows} == {currency}
    by_plan = {
        (r["ProductId"], r["SkuId"], r["TermDuration"], r["BillingPlan"]): Decimal(r["UnitPrice"])
        for r in rows
    }
    basic = ("CFQ7TTC0LH18", "0001")
    yearly = by_plan[(*basic, "P1Y", "Annual")]
    monthly_annual = by_plan[(*basic, "P1Y", "Monthly")]
    monthly_term = by_plan[(*basic, "P1M", "Monthly")]
    assert yearly / 12 < monthly_annual < monthly_term
    assert monthly_term == (yearly / 12 * Decimal("1.2")).quantize(Decimal("0.01"))
    assert all(Decimal(r["UnitPrice"]) > 0 for r in rows)
    assert {r["TermDuration"] for r in rows} >= {"P1M", "P1Y", "P3Y"}


def test_markets_differ_and_us_matches_the_list_price(sandbox_session, token):
    def annual(market):
        rows = _rows(_get(sandbox_session, token, market))
        return next(
            Decimal(r["UnitPrice"])
            for r in rows
            if r["ProductId"] == "CFQ7TTC0LH18"
            and (r["TermDuration"], r["BillingPlan"]) == ("P1Y", "Annual")
        )

    assert annual("US") == Decimal("72.00")  # Business Basic, 6.00 USD a month
    assert len({annual(m) for m in ("US", "GB", "AU", "CA", "NZ")}) == 5


def test_timelines(sandbox_session, token):
    sb = sandbox_session
    now = sb.clock.now()
    current = _rows(_get(sb, token, "GB"))
    assert current[0]["EffectiveStartDate"].startswith(f"{now:%Y-%m}-01")
    future = _rows(_get(sb, token, "GB", timeline="future"))
    assert any(r["ChangeIndicator"] == "PriceIncrease" for r in future)
    assert future[0]["EffectiveStartDate"] > current[0]["EffectiveStartDate"]
    month = f"{now.year - 1}{now.month:02d}"
    history = _rows(_get(sb, token, "GB", timeline="history", month=month))
    assert history[0]["EffectiveStartDate"].startswith(f"{now.year - 1}-{now.month:02d}-01")
    assert _get(sb, token, "GB", timeline="history").status_code == 400
    assert _get(sb, token, "GB", timeline="someday").status_code == 400


def test_unknown_market_and_view_are_refused(sandbox_session, token):
    unknown = _get(sandbox_session, token, "ZZ")
    assert unknown.status_code == 400
    assert unknown.json()["source"] == "PartnerFD"
    assert _get(sandbox_session, token, "US", view="nonsense").status_code == 400


def test_pricing_needs_a_pricing_token(sandbox_session):
    sb = sandbox_session
    assert _get(sb, None).status_code == 401
    assert _get(sb, partner_center_token(sb)).status_code == 401  # wrong audience
