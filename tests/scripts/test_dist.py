"""`make dist`: the add-ons install in a new database from their wheels, not the checkout.

Builds every add-on's wheel with scripts/dist.sh (whool), installs them with
``pip install --no-deps --target`` into a temporary folder (a fresh virtual environment with
Odoo would take minutes on every run: this reuses the running Python, its Odoo and the OCA
add-ons from requirements.txt, so the wheels' own requirements are checked in their metadata
instead), then installs the add-ons in a new database with ``odoo -i ... --stop-after-init``
whose addons path is Odoo's own only, with the checkout off sys.path.

Needs the database server of `make test` (pytest-odoo's configuration); skipped without it.
Select it with ``-m packaging``.
"""

import ast
import contextlib
import email
import os
import pathlib
import subprocess
import sys
import uuid

import psycopg2
import pytest

import odoo

ROOT = pathlib.Path(__file__).resolve().parents[2]
ADDONS = sorted(p.parent.name for p in ROOT.glob("*/__manifest__.py"))

pytestmark = pytest.mark.packaging

if not odoo.tools.config.get("db_name"):
    pytest.skip("needs the Odoo database server of `make test`", allow_module_level=True)


def _connect(dbname="postgres"):
    config = odoo.tools.config
    params = {"dbname": dbname}
    for key, option in (("host", "db_host"), ("port", "db_port"), ("user", "db_user")):
        if config.get(option):
            params[key] = config[option]
    if config.get("db_password"):
        params["password"] = config["db_password"]
    connection = psycopg2.connect(**params)
    connection.autocommit = True
    return connection


@pytest.fixture
def wheels(tmp_path):
    out = tmp_path / "dist"
    env = dict(os.environ, PYTHON=sys.executable)
    subprocess.run(["bash", str(ROOT / "scripts" / "dist.sh"), str(out)], check=True, env=env)
    return sorted(out.glob("*.whl"))


@pytest.fixture
def database():
    name = f"csp_dist_{uuid.uuid4().hex[:10]}"
    yield name
    with contextlib.closing(_connect()) as connection, connection.cursor() as cr:
        cr.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _metadata(site, addon):
    (info,) = site.glob(f"odoo_addon_{addon}-*.dist-info")
    return email.message_from_string((info / "METADATA").read_text())


def test_the_wheels_install_the_add_ons_in_a_new_database_without_the_checkout(
    wheels, database, tmp_path
):
    assert [w.name.split("-")[0] for w in wheels] == [f"odoo_addon_{a}" for a in ADDONS]
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site)]
        + [str(w) for w in wheels],
        check=True,
    )
    for addon in ADDONS:
        assert (site / "odoo" / "addons" / addon / "__manifest__.py").is_file()
        assert _metadata(site, addon)["Name"] == f"odoo-addon-{addon}"
    # the manifest's requirements, the OCA way
    core = _metadata(site, "csp_connector").get_all("Requires-Dist")
    assert {"msal", "requests", "PyJWT"} <= {r.split(">")[0].split("=")[0] for r in core}
    assert any(r.startswith("odoo-addon-auth_oidc") for r in core)
    billing = _metadata(site, "csp_connector_billing").get_all("Requires-Dist")
    assert any(r.startswith("odoo-addon-contract") for r in billing)
    assert any(r.startswith("odoo-addon-csp_connector") for r in billing)

    odoo_addons = pathlib.Path(odoo.__file__).parent / "addons"
    conf = tmp_path / "odoo.conf"
    config = odoo.tools.config
    conf.write_text(
        "[options]\n"
        f"db_host = {config.get('db_host') or False}\n"
        f"db_port = {config.get('db_port') or False}\n"
        f"db_user = {config.get('db_user') or False}\n"
        f"db_password = {config.get('db_password') or False}\n"
        f"addons_path = {odoo_addons}\n"
        f"data_dir = {tmp_path / 'data'}\n"
        "without_demo = all\n"
    )
    log = tmp_path / "install.log"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    command = [sys.executable, "-m", "odoo", "-c", str(conf), "-d", database]
    command += ["-i", ",".join(ADDONS), "--stop-after-init", "--log-level=info"]
    command += [f"--logfile={log}"]
    done = subprocess.run(command, cwd=tmp_path, env=env, check=False)
    text = log.read_text()
    assert done.returncode == 0, text[-4000:]
    (line,) = [line for line in text.splitlines() if "addons paths:" in line]
    paths = ast.literal_eval(line.split("addons paths:", 1)[1].strip())
    assert str(site / "odoo" / "addons") in paths
    assert str(ROOT) not in paths, "the checkout is on the addons path"
    with contextlib.closing(_connect(database)) as connection, connection.cursor() as cr:
        cr.execute("SELECT name, state FROM ir_module_module WHERE name = ANY(%s)", [ADDONS])
        assert dict(cr.fetchall()) == dict.fromkeys(ADDONS, "installed")
