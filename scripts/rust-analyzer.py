#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write rust-project.json for pinio at the top of the tree.

The kernel's generate_rust_analyzer.py (run by `make M=... rust-analyzer`) lists the kernel's
crates but finds module crate roots only next to the Makefile that names them; pinio's root is
src/pinio.rs, named by the top-level Kbuild, and its generated bindings are found through the
PINIO_GENERATED variable. This adds that crate, with the kernel crate's cfgs.
"""
import json
import pathlib
import sys

out_dir, top = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
project = json.loads((out_dir / "rust-project.json").read_text())
crates = project["crates"]
index = {c.get("display_name"): i for i, c in enumerate(crates)}
kernel = crates[index["kernel"]]
deps = [{"crate": index[n], "name": n}
        for n in ("core", "compiler_builtins", "kernel", "pin_init", "macros", "ffi", "zerocopy", "zerocopy_derive")
        if n in index]
crates.append({
    "display_name": "pinio",
    "root_module": str(top / "src" / "pinio.rs"),
    "is_workspace_member": True,
    "edition": "2021",
    "deps": deps,
    "cfg": kernel["cfg"] + ["MODULE"],
    "env": {
        "RUST_MODFILE": "pinio",
        "PINIO_GENERATED": str(out_dir / "rust-bindings" / "generated"),
    },
    # The generated bindings live in the build directory: let rust-analyzer load them.
    "source": {
        "include_dirs": [str(top / "src"), str(out_dir / "rust-bindings" / "generated")],
        "exclude_dirs": [],
    },
})
(top / "rust-project.json").write_text(json.dumps(project, indent=1) + "\n")
print(f"wrote {top / 'rust-project.json'} ({len(crates)} crates)")
