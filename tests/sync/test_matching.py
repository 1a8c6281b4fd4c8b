from odoo.addons.csp_connector.sync import matching


def test_names_normalise_across_legal_forms_case_and_punctuation():
    same = ["Northwind Traders Ltd.", "northwind-traders", "The Northwind Traders Limited"]
    assert {matching.normalise_name(n) for n in same} == {"northwind traders"}
    assert matching.normalise_name("Ben & Jerry's") == matching.normalise_name("Ben and Jerry s")
    assert matching.normalise_name("Northwind") != matching.normalise_name("Northwind Traders")


def test_suggestions_by_name_then_by_domain_only_when_unambiguous():
    companies = [
        (1, "Northwind Traders Ltd", ["info@northwind.co.uk"]),
        (2, "Fabrikam", ["https://www.fabrikam.com/contact"]),
        (3, "Contoso", ["a@contoso.com"]),
        (4, "Contoso", ["b@contoso.net"]),
        (5, "Generic One", ["someone@gmail.com"]),
        (6, "Generic Two", ["other@gmail.com"]),
    ]
    tenants = [
        ("t1", "NORTHWIND TRADERS", ["northwind.onmicrosoft.com"]),
        ("t2", "Fabrikam Europe", ["fabrikam.com", "fabrikameu.onmicrosoft.com"]),
        ("t3", "Contoso", ["contoso.onmicrosoft.com"]),  # two companies share the name
        ("t4", "Unknown Co", ["gmail.com"]),  # generic mail domains never match
    ]
    assert matching.suggest(tenants, companies) == {"t1": (1, "name"), "t2": (2, "domain")}
