"""``python -m mscloud_sandbox serve``: run the sandbox until SIGINT/SIGTERM."""

import argparse
import json
import os
import signal
import sys
import threading

from .app import Sandbox
from .generate import build_world
from .latency import Latency


def _parser():
    parser = argparse.ArgumentParser(prog="python -m mscloud_sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the sandbox over HTTPS")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    serve.add_argument("--seed", type=int, default=1)
    serve.add_argument("--tenants", type=int, default=25)
    serve.add_argument("--users", type=int, default=50, help="users per tenant")
    serve.add_argument("--big-tenant-users", type=int, default=0)
    serve.add_argument(
        "--devices", type=int, default=None, help="Intune devices per tenant (default users x 0.8)"
    )
    serve.add_argument("--ca-path", help="write the CA certificate (PEM) here")
    serve.add_argument("--state-file", help="write URLs and credentials here as JSON")
    serve.add_argument(
        "--latency-ms",
        default=None,
        help="delay before each Microsoft answer: a fixed 150, or a random range 100-500 (ms)",
    )
    serve.add_argument("--verbose", action="store_true", help="log one line per request")
    return parser


def summary(sb):
    """What a client needs to connect: URLs, CA, partner tenant and app credentials."""
    world = sb.world
    return {
        "base_url": sb.base_url,
        "ca_path": sb.ca_path,
        "partner_tenant_id": world.partner_tenant_id,
        "partner_admin_upn": world.partner_admin_upn,
        "urls": sb.urls,
        "partner_center_app": {
            "client_id": world.partner_center_app.client_id,
            "client_secret": world.partner_center_app.client_secret,
        },
        "gdap_app": {
            "client_id": world.gdap_app.client_id,
            "client_secret": world.gdap_app.client_secret,
        },
    }


def _write_json(path, payload):
    """Write atomically, so a script polling for the file never reads half of it."""
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2)
    os.replace(temporary, path)


def _print_summary(info):
    print("Microsoft cloud sandbox running")
    for name, url in info["urls"].items():
        print(f"  {name:<15} {url}")
    print(f"  CA certificate  {info['ca_path']}")
    print(f"  partner tenant  {info['partner_tenant_id']} ({info['partner_admin_upn']})")
    for key in ("partner_center_app", "gdap_app"):
        app = info[key]
        print(f"  {key:<19} client_id={app['client_id']} secret={app['client_secret']}")
    sys.stdout.flush()


def serve(args):
    world = build_world(
        seed=args.seed,
        tenants=args.tenants,
        users=args.users,
        big_tenant_users=args.big_tenant_users,
        devices=args.devices,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with Sandbox(
        world,
        host=args.host,
        port=args.port,
        ca_path=args.ca_path,
        verbose=args.verbose,
        latency=Latency.parse(args.latency_ms, seed=args.seed) if args.latency_ms else None,
    ) as sb:
        info = summary(sb)
        _print_summary(info)
        if args.state_file:
            _write_json(args.state_file, info)
        stop.wait()
    print("Sandbox stopped.")


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command == "serve":
        serve(args)


if __name__ == "__main__":
    main()
