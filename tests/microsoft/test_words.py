"""Microsoft's values in words: durations, enums, seat changes, days."""

from datetime import date, datetime

from odoo.addons.csp_connector.microsoft import words
from odoo.addons.csp_connector.sync import licences, users


def test_iso_durations_in_words():
    assert words.duration("P1Y") == "1 year"
    assert words.duration("P3Y") == "3 years"
    assert words.duration("P1M") == "1 month"
    assert words.duration("p1y6m") == "1 year 6 months"
    assert words.duration("P30D") == "30 days"
    assert words.duration("PT12H") == "12 hours"
    # what is no duration is shown as sent; nothing is nothing
    assert words.duration("forever") == "forever"
    assert words.duration("P") == "P"
    assert words.duration(None) == "" and words.duration("") == ""


def test_enums_in_words():
    assert words.billing_cycle("monthly") == "Monthly"
    assert words.billing_cycle("Annual") == "Yearly"
    assert words.billing_cycle("triennial") == "Every 3 years"
    assert words.billing_cycle("oneTime") == "One time"
    assert words.billing_cycle("none") == "No billing cycle"
    # a value Microsoft adds later is spelled out, never shown as an identifier
    assert words.billing_cycle("biMonthly") == "Bi monthly"
    assert words.capability_status("LockedOut") == "Locked out"
    assert words.capability_status("Enabled") == "Enabled"
    assert words.billing_cycle(None) == ""


def test_seat_changes_in_words():
    assert words.seat_change(5, 7) == "Seats added"
    assert words.seat_change(7, 5) == "Seats removed"
    assert words.seat_change(5, 5) == "" and words.seat_change(None, 5) == ""


def test_days_and_arrows():
    assert words.day(datetime(2026, 12, 5, 0, 0)) == "2026-12-05"
    assert words.day(date(2026, 12, 5)) == "2026-12-05"
    assert words.day("2026-12-05T00:00:00Z") == "2026-12-05"
    assert words.day(False) == ""
    assert words.arrow("officeLocation", "sites") == "officeLocation → sites"


def test_free_trial_and_viral_skus_are_told_apart_from_paid_ones():
    assert licences.free_kind("FLOW_FREE", "Microsoft Power Automate Free", 10000) == "free"
    assert licences.free_kind("TEAMS_EXPLORATORY", "Microsoft Teams Exploratory") == "free"
    assert licences.free_kind("POWER_BI_STANDARD", "Microsoft Fabric (Free)", 1000000) == "free"
    assert licences.free_kind("POWERAPPS_VIRAL", "Power Apps Plan 2 Trial") == "trial"
    assert licences.free_kind("CCIBOTS_PRIVPREV_VIRAL", "Copilot Studio Viral") == "viral"
    assert licences.free_kind("ENTERPRISEPACK_TRIAL", "Office 365 E3 Trial", 25) == "trial"
    assert licences.free_kind("SPB", "Microsoft 365 Business Premium", 25, is_trial=True) == "trial"
    # an unknown SKU granted 10,000 seats is Microsoft's free grant
    assert licences.free_kind("SOMETHING_NEW", None, 10000) == "free"
    # paid SKUs, however large
    assert licences.free_kind("SPB", "Microsoft 365 Business Premium", 300) is None
    assert licences.free_kind("SPE_E3", "Microsoft 365 E3", 9999) is None
    assert licences.free_kind("FREEDOM_SUITE", "Freedom", 10) is None
    assert licences.free_kind(None, None, None) is None


def test_site_mappings_are_named_for_what_they_map():
    assert (
        users.mapping_title(users.KIND_FIELD_SITES, "Contoso", "officeLocation")
        == "Contoso: officeLocation → sites"
    )
    assert (
        users.mapping_title(users.KIND_MATCH, "Contoso", "city", "City")
        == "Contoso: city → site City"
    )
    assert users.mapping_title(users.KIND_SITE, "Contoso", site="Contoso, Paris") == (
        "Contoso: users → Contoso, Paris"
    )
    assert users.mapping_title(users.KIND_SITE, "Contoso") == "Contoso: users → Contoso"
    assert users.mapping_title(users.KIND_SKIP, description="guests") == "Do not import (guests)"


def test_each_distinct_error_once_with_where_it_happened():
    found = [
        ("No consent.", "Contoso"),
        ("Graph refused.", "Fabrikam"),
        ("No consent.", "Northwind"),
        ("No consent.", "Contoso"),
        ("", "Tailspin"),
        ("No consent.", "Litware"),
        ("No consent.", "Adatum"),
        ("Partner Center down.", ""),
    ]
    assert words.distinct_messages(found) == [
        "No consent. (Contoso, Northwind, Litware and 1 more)",
        "Graph refused. (Fabrikam)",
        "Partner Center down.",
    ]
    many = [(f"error {n}", "") for n in range(25)]
    lines = words.distinct_messages(many, limit=20)
    assert len(lines) == 21 and lines[-1].startswith("… and 5 other errors")


def test_free_subscriptions_are_told_apart():
    # Microsoft's free grant: 10,000 seats, no billing cycle
    assert licences.subscription_free_kind("Microsoft Fabric (Free)", 10000, "none") == "free"
    assert licences.subscription_free_kind("Teams Exploratory", 10000, "none") == "free"
    assert licences.subscription_free_kind("Something", 10000, None) == "free"
    # its licence's kind wins
    assert licences.subscription_free_kind("Power Apps", 25, "monthly", "viral") == "viral"
    # a large paid subscription is billed: paid
    assert licences.subscription_free_kind("Microsoft 365 E3", 12000, "monthly") is None
    assert licences.subscription_free_kind("Microsoft 365 E3", 30, "annual") is None
