"""The environment is what a frontend user gets: `machine-dialect==0.1.0a2` on our wheel."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import sysconfig
from pathlib import Path

import machine_dialect_vm

OUR_VERSION = "0.1.0a2+mdvm.1"


def test_pip_check_is_clean() -> None:
    r = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_distribution_is_ours_and_satisfies_the_frontend_pin() -> None:
    assert importlib.metadata.version("machine-dialect-vm") == OUR_VERSION
    assert importlib.metadata.version("machine-dialect") == "0.1.0a2"
    requires = importlib.metadata.requires("machine-dialect") or []
    assert "machine-dialect-vm==0.1.0a2" in [r.replace(" ", "") for r in requires]


def test_module_is_ours() -> None:
    assert machine_dialect_vm.__version__ == OUR_VERSION
    # The package maturin writes (with our stub), installed in this venv by our distribution.
    path = Path(machine_dialect_vm.__file__)
    assert path.parent.name == "machine_dialect_vm"
    assert path.parent.parent == Path(sysconfig.get_paths()["platlib"])
    files = [str(f) for f in importlib.metadata.files("machine-dialect-vm") or []]
    assert "machine_dialect_vm/__init__.pyi" in files
    assert any(f.startswith("machine_dialect_vm/machine_dialect_vm.") and f.endswith((".so", ".pyd")) for f in files)
    # Our extras are there; the reference module has none of them.
    for name in ("load_bytes", "stats", "reset"):
        assert hasattr(machine_dialect_vm.RustVM, name)
