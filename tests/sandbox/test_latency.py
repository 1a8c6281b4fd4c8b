"""The sandbox's latency option: a delay before each Microsoft answer, fixed or random,
never before the control API's."""

import time

import pytest
import requests

from mscloud_sandbox.__main__ import _parser
from mscloud_sandbox.latency import Latency


def test_fixed_and_random_delays():
    assert Latency.parse("150").delay() == pytest.approx(0.150)
    random_latency = Latency.parse("100-500", seed=3)
    delays = [random_latency.delay() for _ in range(200)]
    assert all(0.1 <= d <= 0.5 for d in delays)
    assert len(set(delays)) > 100  # random, not one value
    assert 0.25 < sum(delays) / len(delays) < 0.35  # mean near 300 ms


@pytest.mark.parametrize("text", ["fast", "500-100", "-5"])
def test_bad_latency_is_refused_with_what_to_give(text):
    with pytest.raises(ValueError, match="give milliseconds"):
        Latency.parse(text)


def test_serve_takes_the_option():
    args = _parser().parse_args(["serve", "--latency-ms", "150"])
    assert args.latency_ms == "150"


def test_microsoft_answers_wait_the_control_api_does_not(sandbox):
    sandbox.latency = Latency(300)
    try:
        started = time.monotonic()
        requests.get(f"{sandbox.urls['graph']}/v1.0/users", verify=sandbox.ca_path, timeout=10)
        graph_took = time.monotonic() - started
        started = time.monotonic()
        requests.get(f"{sandbox.urls['control']}/state", verify=sandbox.ca_path, timeout=10)
        control_took = time.monotonic() - started
    finally:
        sandbox.latency = None
    assert graph_took >= 0.3
    assert control_took < 0.3
