#!/usr/bin/env python3
"""The shell and Python half of `make lint`: shellcheck on every shell script the repository
tracks (a .sh name or a sh/bash shebang, so .ci/run too), then ruff on every Python file
(settings in ruff.toml). Run with the .venv that has infra/requirements-lint.txt."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent
SHEBANG = re.compile(rb"#!\s*(/usr/bin/env\s+)?(/\S*/)?(ba|da)?sh\b")


def shell_scripts():
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                             capture_output=True).stdout.decode().split("\0")
    scripts = []
    for name in filter(None, tracked):
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the work tree
        with open(path, "rb") as source:
            first_line = source.readline(128)
        if name.endswith(".sh") or SHEBANG.match(first_line):
            scripts.append(name)
    return scripts


def main():
    scripts = shell_scripts()
    print(f"shellcheck: {len(scripts)} scripts", flush=True)
    shellcheck = subprocess.run([str(BIN / "shellcheck"), "--external-sources", *scripts],
                                cwd=ROOT, check=False)
    print("ruff: every Python file", flush=True)
    ruff = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=ROOT,
                          check=False)
    sys.exit(1 if shellcheck.returncode or ruff.returncode else 0)


if __name__ == "__main__":
    main()
