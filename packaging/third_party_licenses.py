#!/usr/bin/env python3
"""Writes the licenses of every crate the `mediator` binary links.

Reads `cargo metadata` (the server package's normal dependencies, resolved
for this platform), lists each crate with its version and declared license,
then appends the license files each crate ships (LICENSE*, COPYING*,
NOTICE*). Usage: third_party_licenses.py OUT_FILE
"""

import json
import pathlib
import subprocess
import sys


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked",
             "--filter-platform", host_triple()],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    workspace = set(meta["workspace_members"])
    root = next(i for i in workspace if packages[i]["name"] == "server")

    # Normal (not dev or build) dependencies reachable from the server.
    seen, stack = set(), [root]
    while stack:
        node = nodes[stack.pop()]
        for dep in node["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]) and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                stack.append(dep["pkg"])
    crates = sorted(
        (packages[i] for i in seen if i not in workspace),
        key=lambda p: (p["name"], p["version"]),
    )

    lines = ["Third-party crates linked into the mediator binary", ""]
    for p in crates:
        lines.append(f"{p['name']} {p['version']}: {p.get('license') or 'see its files below'}")
    for p in crates:
        folder = pathlib.Path(p["manifest_path"]).parent
        files = sorted(
            f for f in folder.iterdir()
            if f.is_file() and f.name.upper().startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE"))
        )
        for f in files:
            lines += ["", "=" * 78, f"{p['name']} {p['version']}: {f.name}", "=" * 78, ""]
            lines.append(f.read_text(errors="replace").rstrip())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"{out}: {len(crates)} crates")


def host_triple() -> str:
    info = subprocess.run(["rustc", "-vV"], check=True, capture_output=True, text=True).stdout
    return next(l.split(": ", 1)[1] for l in info.splitlines() if l.startswith("host: "))


if __name__ == "__main__":
    main()
