"""Two `enlace up` on one machine (two test workers) never choose the same port."""

import subprocess
import sys

import pytest

from services.stack import StackError, choose_port, reserve_port

HOLD_A_PORT = """
import sys
from services.stack import choose_port
print(choose_port("NATS server", 0), flush=True)
sys.stdin.read()
"""


def test_a_port_another_stack_has_chosen_is_not_chosen_again_before_it_is_bound() -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_A_PORT],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        with pytest.raises(StackError, match=f"Port {port} .* already taken"):
            choose_port("directory", port)
    finally:
        holder.communicate("")
    assert choose_port("directory", port) == port


def test_one_process_never_chooses_the_same_port_twice() -> None:
    ports = [choose_port(f"gateway {n}", 0) for n in range(30)]
    assert len(set(ports)) == len(ports)
    assert not reserve_port(ports[0])
