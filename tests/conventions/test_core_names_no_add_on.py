"""The core names no add-on: a feature add-on plugs into csp_connector's seams (steps,
bindings, the Microsoft clients' public API and their explanation table) without the core
knowing it, so a feature branch shows no change under csp_connector/. Checked in every
text file of the core (code, tests, views, data, readme): no add-on built on it, and no
module only such an add-on depends on, is named there."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORE = "csp_connector"
TEXT = {".py", ".xml", ".csv", ".md", ".rst", ".html", ".js", ".sql"}


def manifest(addon_dir):
    return ast.literal_eval((addon_dir / "__manifest__.py").read_text())


def names_the_core_may_not_use():
    """The add-ons built on the core, and the modules only they depend on."""
    core_depends = set(manifest(ROOT / CORE)["depends"])
    add_ons, theirs = set(), set()
    for path in ROOT.glob("*/__manifest__.py"):
        depends = set(manifest(path.parent).get("depends", ()))
        if CORE in depends:
            add_ons.add(path.parent.name)
            theirs |= depends - core_depends - {CORE}
    return add_ons, theirs


def test_the_add_ons_are_found():
    add_ons, theirs = names_the_core_may_not_use()
    assert {"csp_connector_billing", "csp_connector_assets"} <= add_ons
    assert {"contract", "maintenance"} <= theirs


def test_no_core_file_names_an_add_on():
    add_ons, theirs = names_the_core_may_not_use()
    words = [re.escape(name) for name in sorted(add_ons)]
    # a module only an add-on depends on, as an xml id or an import: "maintenance.group_…"
    words += [rf"(?<![\w.]){re.escape(name)}\.[a-z_]" for name in sorted(theirs)]
    words += [rf"odoo\.addons\.{re.escape(name)}\b" for name in sorted(theirs)]
    pattern = re.compile("|".join(words))
    found = []
    for path in sorted((ROOT / CORE).rglob("*")):
        if path.suffix not in TEXT or "i18n" in path.parts or not path.is_file():
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
