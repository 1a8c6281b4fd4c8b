"""Every list a user opens says, when it is empty, what it will hold and how to fill it:
each window action of the add-ons that shows a list, kanban, pivot or graph has a help
text (a dialog opened on one record, target new, has none to show)."""

import pathlib

from lxml import etree

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHOWS_MANY = ("list", "kanban", "pivot", "graph")


def _actions():
    for path in sorted(ROOT.glob("csp_connector*/**/*.xml")):
        if "static" in path.parts:
            continue
        for record in etree.parse(str(path)).iter("record"):
            if record.get("model") == "ir.actions.act_window":
                yield path.relative_to(ROOT), record


def test_every_list_action_has_empty_help():
    missing = []
    for path, record in _actions():
        values = {field.get("name"): field for field in record.findall("field")}
        if "target" in values and values["target"].text == "new":
            continue
        modes = values["view_mode"].text if "view_mode" in values else "list,form"
        if any(mode in modes for mode in SHOWS_MANY) and "help" not in values:
            missing.append(f"{path}: {record.get('id')}")
    assert not missing, "window actions without help text when empty: " + ", ".join(missing)


def test_the_check_sees_the_actions():
    assert len(list(_actions())) > 20
