"""Runs one .mdbc file on the reference VM (the `machine-dialect-vm` 0.1.0a2 wheel) through its
Python API; its DEBUG_PRINT output goes to stdout. Arguments: FILE.mdbc."""
import sys

import machine_dialect_vm

vm = machine_dialect_vm.RustVM()
vm.load_bytecode(sys.argv[1])
vm.execute()
