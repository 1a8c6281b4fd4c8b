"""``python -m sandbox_connection STATE_FILE set-quantity CUSTOMER SUBSCRIPTION N``:
change a subscription's quantity in the running sandbox's Partner Center, as the
partner would (its signed webhook event follows)."""

import argparse

from . import load_state
from .partner import set_quantity


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sandbox_connection",
        description="Act on a running sandbox as the partner would.",
    )
    parser.add_argument("state_file", help="the sandbox's --state-file")
    commands = parser.add_subparsers(dest="command", required=True)
    change = commands.add_parser(
        "set-quantity", help="change a subscription's quantity in Partner Center"
    )
    change.add_argument("customer_id")
    change.add_argument("subscription_id")
    change.add_argument("quantity", type=int)
    args = parser.parse_args(argv)
    state = load_state(args.state_file)
    answer = set_quantity(state, args.customer_id, args.subscription_id, args.quantity)
    print(
        f"{answer.get('friendlyName') or answer.get('offerName')}: {answer['quantity']} seats "
        "in Partner Center (its webhook event is on its way)."
    )


if __name__ == "__main__":
    main()
