"""A local stand-in for the parts of Microsoft's cloud the CSP connector uses.

Entra ID (login), Partner Center, Microsoft Graph and the partner price sheet are
served over HTTPS on one loopback port, from deterministic generated data.  It is a
tool for tests, the demo and benchmarks: no Odoo add-on imports it; the add-ons only
reach it through the endpoints configured on a connection.
"""
