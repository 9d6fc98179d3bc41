"""A local anvil node for one run: started on loopback on a free port, stopped by its process id.

anvil comes from npm (``npm ci`` installs ``@foundry-rs/anvil`` from the committed lock file into
``node_modules/``); ``DEPINSIM_ANVIL`` or an ``anvil`` on the PATH also do.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .hook import ChainUnavailable

ROOT = Path(__file__).resolve().parents[2]


def find_anvil() -> str | None:
    """The anvil binary: $DEPINSIM_ANVIL, the npm package's platform binary, node_modules/.bin, the PATH."""
    candidates = [os.environ.get("DEPINSIM_ANVIL"),
                  *(str(p) for p in sorted((ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil"))),
                  str(ROOT / "node_modules" / ".bin" / "anvil"), shutil.which("anvil")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=1.0) as response:
            return "result" in json.loads(response.read())
    except (OSError, ValueError):
        return False


@contextmanager
def anvil_node(timeout_s: float = 20.0) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start anvil, wait until it answers, yield (URL, process); stop it on the way out, errors included."""
    binary = find_anvil()
    if binary is None:
        raise ChainUnavailable("anvil is not installed: run `npm ci` in the project folder (it installs "
                               "@foundry-rs/anvil from package-lock.json), or set DEPINSIM_ANVIL to its path.")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # one block per epoch (RpcChain sends an epoch's calls in one batch, then evm_mine), with room for all of
    # them, and no base fee: on automine the base fee climbs with every full block until the batch's
    # later transactions are priced out and stay pending
    proc = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", str(port), "--silent", "--no-mining",
                             "--gas-limit", str(2**48), "--block-base-fee-per-gas", "0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout_s
        while not _answers(url):
            if proc.poll() is not None:
                err = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace").strip()
                raise ChainUnavailable(f"anvil ({binary}) exited at start with code {proc.returncode}: {err[:300]}")
            if time.monotonic() > deadline:
                raise ChainUnavailable(f"anvil ({binary}) did not answer on {url} within {timeout_s:g} s")
            time.sleep(0.05)
        yield url, proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the node by its process id, then kill it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc.stderr:
        proc.stderr.close()
