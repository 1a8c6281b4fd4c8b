"""The add-ons' plain Python parts are imported as ``odoo.addons.<addon>...``.

Under ``make test`` pytest-odoo puts the repository on the addons path; this makes the
same imports work in a plain ``pytest tests/microsoft`` run. No database is needed.
"""

import pathlib

import odoo.addons

ROOT = str(pathlib.Path(__file__).resolve().parents[2])
if ROOT not in odoo.addons.__path__:
    odoo.addons.__path__.append(ROOT)
