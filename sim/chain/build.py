"""Compile the Vyper contracts in ``contracts/`` into ``contracts/build/`` and load the artifacts.

Each artifact is a JSON file (sorted keys, so a rebuild is byte-identical) with the ABI, the deployment
bytecode, the compiler version and the SHA-256 of its source. The compiler is the pip-installed Vyper,
pinned; it runs offline.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

VYPER_VERSION = "0.4.3"
CONTRACTS = ("Token", "Marketplace", "Distributor")
CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"


class ArtifactError(RuntimeError):
    """Contract sources or artifacts are missing, or built with another compiler."""


def artifact_text(name: str, source: bytes) -> str:
    """The artifact of one contract, as the exact text written to disk."""
    import vyper

    if vyper.__version__ != VYPER_VERSION:
        raise ArtifactError(f"contracts are built with Vyper {VYPER_VERSION}; this environment has "
                            f"{vyper.__version__} (pip install 'vyper=={VYPER_VERSION}')")
    out = vyper.compile_code(source.decode("utf-8"), output_formats=["abi", "bytecode"])
    artifact = {
        "contract": name,
        "compiler": f"vyper {VYPER_VERSION}",
        "source": f"contracts/{name}.vy",
        "source_sha256": hashlib.sha256(source).hexdigest(),
        "abi": out["abi"],
        "bytecode": out["bytecode"],
    }
    return json.dumps(artifact, sort_keys=True, indent=1) + "\n"


def build(contracts_dir: Path = CONTRACTS_DIR, out_dir: Path | None = None) -> list[Path]:
    """Compile every contract; write ``<out_dir>/<Name>.json`` (default ``contracts/build``) atomically."""
    out_dir = out_dir or contracts_dir / "build"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in CONTRACTS:
        source_path = contracts_dir / f"{name}.vy"
        if not source_path.is_file():
            raise ArtifactError(f"contract source {source_path} is missing")
        text = artifact_text(name, source_path.read_bytes())
        target = out_dir / f"{name}.json"
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        written.append(target)
    return written


def load(name: str, contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """A committed artifact, checked against its source (a stale artifact would deploy old code)."""
    path = contracts_dir / "build" / f"{name}.json"
    source = contracts_dir / f"{name}.vy"
    if not path.is_file() or not source.is_file():
        raise ArtifactError(f"contract artifact {path} or source {source} is missing: run `depinsim contracts build` "
                            "in a source checkout")
    artifact: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if artifact["source_sha256"] != digest:
        raise ArtifactError(f"{path} was built from another version of {source}: run `depinsim contracts build`")
    return artifact
