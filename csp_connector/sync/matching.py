"""Suggest an Odoo company for each unmapped tenant: by normalised name, then by
e-mail domain. A suggestion is only made when exactly one company fits; it is shown
for confirmation, never applied silently."""

import re
import unicodedata

_LEGAL_FORMS = {
    "ltd", "limited", "plc", "llc", "llp", "lp", "inc", "incorporated", "corp",
    "corporation", "co", "company", "gmbh", "ag", "sa", "sas", "sarl", "bv", "nv",
    "pty", "pte", "srl", "spa", "ab", "as", "oy", "kg", "group", "holdings", "the",
}  # fmt: skip
_GENERIC_DOMAINS = {
    "gmail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com", "icloud.com",
    "onmicrosoft.com",
}  # fmt: skip


def normalise_name(name):
    """'The Northwind Traders Ltd.' and 'northwind-traders' both give 'northwind traders'."""
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    text = re.sub(r"&", " and ", text.lower())
    words = re.findall(r"[a-z0-9]+", text)
    kept = [w for w in words if w not in _LEGAL_FORMS]
    return " ".join(kept or words)


def domain_of(value):
    """The registrable-looking domain of an e-mail address or website, lower-cased."""
    if not value:
        return None
    value = value.strip().lower()
    value = value.split("@", 1)[1] if "@" in value else re.sub(r"^[a-z]+://", "", value)
    value = value.split("/", 1)[0].removeprefix("www.")
    if not value or "." not in value:
        return None
    return value


def suggest(tenants, companies):
    """{tenant_id: (company_id, reason)} for the tenants one company clearly matches.

    tenants: iterable of (tenant_id, name, domains) ; companies: iterable of
    (company_id, name, domains) where domains come from e-mail addresses and websites.
    """
    by_name = {}
    by_domain = {}
    for company_id, name, domains in companies:
        by_name.setdefault(normalise_name(name), set()).add(company_id)
        for domain in map(domain_of, domains):
            if domain and domain not in _GENERIC_DOMAINS:
                by_domain.setdefault(domain, set()).add(company_id)
    out = {}
    for tenant_id, name, domains in tenants:
        named = by_name.get(normalise_name(name), set())
        if len(named) == 1:
            out[tenant_id] = (next(iter(named)), "name")
            continue
        found = set()
        for domain in map(domain_of, domains):
            if domain and not domain.endswith(".onmicrosoft.com"):
                found |= by_domain.get(domain, set())
        if len(found) == 1:
            out[tenant_id] = (next(iter(found)), "domain")
    return out
