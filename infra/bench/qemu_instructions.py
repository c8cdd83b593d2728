#!/usr/bin/env python3
"""Counts the guest instructions an arm64 program executes under qemu-user: qemu logs each
translated block's instructions (in_asm) and each block it executes (exec, unchained), and
the count is the sum, over executions, of the block's length.

    qemu_instructions.py BINARY ARGS...   prints the count (QEMU_LD_PREFIX as for qemu)
"""
import collections
import os
import re
import subprocess
import sys
import tempfile

BLOCK_START = re.compile(r"^IN:")
INSTRUCTION = re.compile(r"^0x([0-9a-f]+):")
EXECUTED = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")


def count(argv: list[str]) -> int:
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        subprocess.run(["qemu-aarch64-static", "-d", "in_asm,exec,nochain", "-D", log.name,
                        *argv], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "QEMU_LD_PREFIX": os.environ.get(
                           "QEMU_LD_PREFIX", "/usr/aarch64-linux-gnu")})
        lengths: dict[int, int] = {}
        executions: collections.Counter[int] = collections.Counter()
        start = None
        with open(log.name, errors="replace") as lines:
            for line in lines:
                if BLOCK_START.match(line):
                    start = None
                    continue
                found = INSTRUCTION.match(line)
                if found:
                    address = int(found.group(1), 16)
                    if start is None:
                        start = address
                        lengths[start] = 0
                    lengths[start] += 1
                    continue
                found = EXECUTED.match(line)
                if found:
                    executions[int(found.group(1), 16)] += 1
        return sum(lengths.get(address, 0) * times for address, times in executions.items())


if __name__ == "__main__":
    print(count(sys.argv[1:]))
