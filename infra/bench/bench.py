"""Issue 12's side-by-side benchmark, run by infra/bench/bench.sh on a local stack it brought up.

Subjects, each a Lambda bootstrap under AWS's Runtime Interface Emulator (RIE), against moto:

- receiver, archive off   the release `receiver` with ARCHIVE_ENABLED=false;
- receiver, archive on    the same binary with the stack's ARCHIVE_ENABLED=true (S3 PutObject too);
- python peer             infra/bench/python_peer/handler.py under awslambdaric (its own venv);
- floor-runtime           the Lambda runtime alone (a fixed 200), for reference.

For each, in the same run, the subjects taking turns (cold start after cold start, block of
warm webhooks after block) so that whatever else the machine does falls on all of them alike:

- cold start: from starting the RIE with the bootstrap to the first 2xx answer, the median of
  --cold starts (the RIE starts the bootstrap on the first invoke, as Lambda does);
- warm latency p50/p99 over --warm signed webhooks with distinct ids (scan.created of the
  sample's size), the client on loopback, after --warmup unmeasured ones;
- CPU per warm event from /proc/<bootstrap>/stat (utime, stime; clock ticks, so 10 ms steps:
  hence the precise total from the threads' schedstat beside it); peak RSS (VmHWM);
- instructions per warm event with callgrind: the bootstrap as `valgrind --tool=callgrind` under
  the RIE, once answering 1 invocation and once 1+K, (total2 - total1) / K; the Python peer's
  too (CPython included) unless --no-peer-callgrind. The floor the same way: floor-runtime
  under the RIE, and floor-sqs sending 1 and 1+K messages.

Then the per-function difference of the two receiver (archive off) profiles, grouped by crate,
against the floor's: where a warm webhook's instructions go. valgrind's virtual CPU has no SHA
extensions, so sha2 runs in software under callgrind (SHA-NI natively): the floor's ratio is
given without SHA-256 too. The queues are purged between
rounds (moto slows down as a queue fills; bench.sh starts moto without the 60 s purge limit).

Writes OUT/report.json and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra"))

import boto3  # noqa: E402

import layout  # noqa: E402

SAMPLE = ROOT / "infra" / "samples" / "scan.created.json"
SAMPLE_ID = "evt_01HXYZ"
PEER_DIR = ROOT / "infra" / "bench" / "python_peer"
CLK_TCK = os.sysconf("SC_CLK_TCK")
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
# Under valgrind everything runs some 50 times slower: generous deadlines there, so that no
# AWS call or invocation times out (timeouts are timers: the instructions are the same).
CALLGRIND_ENV = {"AWS_CALL_TIMEOUT_MS": "20000", "FUNCTION_TIMEOUT_SECONDS": "120"}
CALLGRIND_FUNCTION_TIMEOUT = "120"


# ---- processes ------------------------------------------------------------------------------

STARTED: list[subprocess.Popen] = []


def stop_all() -> None:
    """Ends every process group this script started (the RIE and its bootstrap)."""
    for process in STARTED:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            process.wait(timeout=5)
    STARTED.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(FileNotFoundError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(FileNotFoundError):
                found += [int(c) for c in
                          pathlib.Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def cpu_ticks(pid: int) -> tuple[int, int]:
    """utime and stime of the whole process (every thread, the dead ones too), in ticks."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def run_ns(pid: int) -> int:
    """Time on CPU of the live threads, in ns (schedstat's first field)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):
            total += int(pathlib.Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
    return total


def status_kib(pid: int, key: str) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def rie_binary() -> pathlib.Path:
    arch = {"aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    found = sorted((ROOT / ".venv" / "lib").glob(
        f"python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{arch}"))
    if not found:
        raise SystemExit("the RIE is missing: run infra/local-stack.sh setup (aws-sam-cli)")
    return found[0]


@dataclass
class Subject:
    key: str
    label: str
    command: list[str]
    env: dict[str, str]
    cwd: pathlib.Path = ROOT
    callgrind: bool = True


class Emulator:
    """One RIE with one bootstrap command, in its own process group."""

    def __init__(self, subject: Subject, log: pathlib.Path, *, timeout: str,
                 prefix: list[str] | None = None, extra: dict[str, str] | None = None):
        self.port = free_port()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **subject.env, **(extra or {}),
               "AWS_LAMBDA_FUNCTION_TIMEOUT": timeout, "AWS_LAMBDA_LOG_FORMAT": "json",
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}
        self.started = time.perf_counter_ns()
        self.process = subprocess.Popen(
            [str(rie_binary()), "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
             "--runtime-api-address", f"127.0.0.1:{free_port()}", *(prefix or []),
             *subject.command],
            env=env, cwd=subject.cwd, stdin=subprocess.DEVNULL, stdout=log.open("ab"),
            stderr=subprocess.STDOUT, start_new_session=True)
        STARTED.append(self.process)
        self.connection: http.client.HTTPConnection | None = None

    def connect(self, seconds: float = 10) -> None:
        give_up = time.monotonic() + seconds
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
                connection.connect()
                self.connection = connection
                return
            except OSError:
                if time.monotonic() > give_up or self.process.poll() is not None:
                    raise
                time.sleep(0.001)

    def invoke(self, event: bytes) -> dict[str, Any]:
        if self.connection is None:
            self.connect()
        assert self.connection is not None  # noqa: S101
        self.connection.request("POST", INVOKE_PATH, body=event,
                                headers={"content-type": "application/json"})
        response = self.connection.getresponse()
        return json.loads(response.read() or b"null")

    def bootstrap_pid(self) -> int:
        pids = children(self.process.pid)
        if len(pids) != 1:
            raise RuntimeError(f"expected one bootstrap under the RIE, found {pids}")
        return pids[0]

    def stop(self) -> None:
        if self.connection is not None:
            self.connection.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        STARTED.remove(self.process)


def status_of(answer: Any) -> int:
    return answer.get("statusCode", 0) if isinstance(answer, dict) else 0


def expect_2xx(answer: Any, what: str) -> None:
    if not 200 <= status_of(answer) < 300:
        raise RuntimeError(f"{what}: not a 2xx answer: {str(answer)[:300]}")


# ---- the webhooks ---------------------------------------------------------------------------


class Events:
    """Signed API Gateway HTTP API (v2) events of the sample scan.created, each with its own
    id of the sample id's length (so every body is the sample's size)."""

    def __init__(self, secret: str):
        self.secret = secret.encode()
        self.template = SAMPLE.read_text()
        if SAMPLE_ID not in self.template:
            raise SystemExit(f"{SAMPLE} no longer has the id {SAMPLE_ID}")
        self.count = 0

    def body(self, index: int) -> str:
        return self.template.replace(SAMPLE_ID, f"evt_{index:06d}"[:len(SAMPLE_ID)])

    def next(self) -> bytes:
        self.count += 1
        body = self.body(self.count)
        signature = hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()
        return json.dumps({
            "version": "2.0",
            "routeKey": "POST /webhooks/3qpr",
            "rawPath": "/webhooks/3qpr",
            "rawQueryString": "",
            "headers": {"content-type": "application/json", "user-agent": "3QPR-Webhooks",
                        "x-3qpr-signature": f"sha256={signature}"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "api-id",
                "domainName": "api-id.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "api-id",
                "http": {"method": "POST", "path": "/webhooks/3qpr", "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.7", "userAgent": "3QPR-Webhooks"},
                "requestId": f"bench-{self.count:08d}", "routeKey": "POST /webhooks/3qpr",
                "stage": "$default", "time": "20/Mar/2026:15:30:00 +0000",
                "timeEpoch": 1774020600000,
            },
            "body": body,
            "isBase64Encoded": False,
        }).encode()


# ---- the stack ------------------------------------------------------------------------------


class Stack:
    def __init__(self, state_dir: pathlib.Path):
        self.state = layout.load_state(state_dir)
        self.sqs = boto3.client(
            "sqs", endpoint_url=self.state["endpoint"], region_name=self.state["region"],
            aws_access_key_id=self.state["access_key_id"],
            aws_secret_access_key=self.state["secret_access_key"])
        self.urls = list(layout.queue_urls(self.state).values())

    def drain(self) -> None:
        """Empties every queue: moto's SendMessage slows down as a queue fills."""
        for url in self.urls:
            self.sqs.purge_queue(QueueUrl=url)

    def count(self) -> int:
        total = 0
        for url in self.urls:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            total += int(attributes["ApproximateNumberOfMessages"])
        return total


# ---- measurements ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def cold_start(subject: Subject, events: Events, log: pathlib.Path, timeout: str) -> float:
    """Milliseconds from starting the RIE to the first 2xx (the bootstrap starts on it)."""
    emulator = Emulator(subject, log, timeout=timeout)
    try:
        emulator.connect()
        answer = emulator.invoke(events.next())
        elapsed = time.perf_counter_ns() - emulator.started
        expect_2xx(answer, f"{subject.label}, cold start")
    finally:
        emulator.stop()
    return elapsed / 1e6


class Warm:
    """One subject's warm instance, fed block after block, its bootstrap's CPU counted over
    the blocks only."""

    def __init__(self, subject: Subject, events: Events, warmup: int, log: pathlib.Path,
                 timeout: str):
        self.subject = subject
        self.emulator = Emulator(subject, log, timeout=timeout)
        self.emulator.connect()
        for _ in range(1 + warmup):
            expect_2xx(self.emulator.invoke(events.next()), f"{subject.label}, warm-up")
        self.pid = self.emulator.bootstrap_pid()
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.ticks = [0, 0]
        self.run_ns = 0
        self.block_cpu_us: list[float] = []

    def block(self, events: Events, count: int) -> None:
        user0, system0 = cpu_ticks(self.pid)
        run0 = run_ns(self.pid)
        for _ in range(count):
            event = events.next()
            started = time.perf_counter_ns()
            answer = self.emulator.invoke(event)
            self.latencies.append((time.perf_counter_ns() - started) / 1e3)
            self.statuses[status_of(answer)] = self.statuses.get(status_of(answer), 0) + 1
        user1, system1 = cpu_ticks(self.pid)
        run1 = run_ns(self.pid)
        self.ticks[0] += user1 - user0
        self.ticks[1] += system1 - system0
        self.run_ns += run1 - run0
        self.block_cpu_us.append((run1 - run0) / 1e3 / count)

    def result(self) -> dict[str, Any]:
        if set(self.statuses) != {200}:
            raise RuntimeError(f"{self.subject.label}: warm answers by status {self.statuses}")
        count = len(self.latencies)
        tick_us = 1e6 / CLK_TCK
        return {
            "events": count,
            "latency_us": {"p50": percentile(self.latencies, 50),
                           "p99": percentile(self.latencies, 99),
                           "mean": statistics.fmean(self.latencies), "max": max(self.latencies)},
            "cpu_us_per_event": {
                "user": self.ticks[0] * tick_us / count,
                "system": self.ticks[1] * tick_us / count,
                "total_ticks": sum(self.ticks) * tick_us / count,
                "total_schedstat": self.run_ns / 1e3 / count,
                "tick_resolution_us_per_event": tick_us / count,
                "schedstat_by_block": {"min": min(self.block_cpu_us),
                                       "median": statistics.median(self.block_cpu_us),
                                       "max": max(self.block_cpu_us)},
            },
            "peak_rss_kib": status_kib(self.pid, "VmHWM"),
        }

    def stop(self) -> None:
        self.emulator.stop()


def callgrind_total(path: pathlib.Path) -> int:
    for line in reversed(path.read_text(errors="replace").splitlines()):
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"{path}: no totals line (did the process end cleanly?)")


def valgrind_prefix(out: pathlib.Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--quiet"]


def callgrind_under_rie(subject: Subject, events: Events, invocations: int, out: pathlib.Path,
                        log: pathlib.Path, stack: Stack) -> int:
    """Total instructions of the bootstrap answering `invocations` webhooks, start to exit."""
    out.unlink(missing_ok=True)
    stack.drain()
    emulator = Emulator(subject, log, timeout=CALLGRIND_FUNCTION_TIMEOUT,
                        prefix=valgrind_prefix(out), extra=CALLGRIND_ENV)
    try:
        emulator.connect()
        for index in range(invocations):
            expect_2xx(emulator.invoke(events.next()), f"{subject.label} under callgrind, #{index}")
        pid = emulator.bootstrap_pid()
        os.kill(pid, signal.SIGTERM)  # valgrind writes the profile as the program ends
        give_up = time.monotonic() + 120
        while alive(pid) and time.monotonic() < give_up:
            time.sleep(0.05)
    finally:
        emulator.stop()
    return callgrind_total(out)


def callgrind_command(command: list[str], env: dict[str, str], out: pathlib.Path,
                      log: pathlib.Path) -> int:
    out.unlink(missing_ok=True)
    with log.open("ab") as output:
        subprocess.run([*valgrind_prefix(out), *command], env={**os.environ, **env}, check=True,
                       stdout=output, stderr=subprocess.STDOUT, timeout=600)
    return callgrind_total(out)


# ---- where the instructions go --------------------------------------------------------------

CATEGORIES = [
    # (category, crate names); a crate counts with the crates named after it (hyper: hyper_util)
    ("ours", ("qpr_webhooks", "receiver", "floor_runtime", "floor_sqs", "bench_floor")),
    ("Lambda runtime", ("lambda_runtime", "lambda_http", "aws_lambda_events")),
    ("SDK: SigV4 signing", ("aws_sigv4",)),
    ("SDK: other", ("aws_sdk", "aws_smithy", "aws_runtime", "aws_types", "aws_config",
                    "aws_credential_types")),
    ("HTTP (hyper, http, bytes)", ("hyper", "http", "httparse", "h2", "tower", "bytes")),
    ("JSON (serde)", ("serde", "serde_json")),
    ("tracing (the log line)", ("tracing",)),
    ("crypto (sha2, hmac, hex)", ("sha2", "hmac", "ring", "digest", "block_buffer", "hex")),
    ("tokio, futures", ("tokio", "mio", "futures", "pin_project")),
    ("time", ("time", "chrono")),
    ("std/alloc/core", ("core", "alloc", "std", "hashbrown")),
]
FORMATTING = "formatting (core::fmt)"
LIBC_ALLOCATOR = ("malloc", "free", "realloc", "calloc", "malloc_consolidate", "_int_")
PATH_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)::")


def crate_category(crate: str) -> str | None:
    for category, names in CATEGORIES:
        if any(crate == name or crate.startswith(name + "_") for name in names):
            return category
    return None


def category_of(function: str, objfile: str) -> str:
    """The category of the first crate a symbol names other than core, alloc and std (for
    `core::ptr::drop_in_place<aws_smithy_types::...>`, the SDK), else theirs."""
    if function.split("<", 1)[0].startswith("core::fmt") or function.startswith("<core::fmt"):
        return FORMATTING
    generic = None
    for crate in PATH_RE.findall(function):
        category = crate_category(crate)
        if category == "std/alloc/core":
            generic = generic or category
        elif category:
            return category
    if generic:
        return generic
    base = os.path.basename(objfile)
    if base.startswith("libc") or function.startswith(LIBC_ALLOCATOR) or "memcpy" in function \
            or "memmove" in function or "memset" in function:
        return "libc (malloc, memcpy, ...)"
    if base.startswith("ld-linux"):
        return "dynamic loader"
    return "other"


ANNOTATE_RE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(.+?)(?:\s+\[(.+)\])?\s*$")
CALLER_RE = re.compile(
    r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(<|\*)\s+(.*?)(?: \(([\d,]+)x\))?(?: \[.*\])?\s*$")
# libc's entry points whose callers are worth knowing: copies and allocations.
LIBC_ENTRY_POINTS = ["__memcpy_avx_unaligned_erms", "malloc", "free", "realloc"]


def self_costs(profile: pathlib.Path, inclusive: bool = False) -> dict[tuple[str, str], int]:
    """Instructions by function (self cost, or inclusive), from callgrind_annotate."""
    text = subprocess.run(
        ["callgrind_annotate", "--threshold=100",
         "--inclusive=" + ("yes" if inclusive else "no"), str(profile)],
        check=True, capture_output=True, text=True).stdout
    costs: dict[tuple[str, str], int] = {}
    in_table = False
    for line in text.splitlines():
        if "file:function" in line:
            in_table = True
            continue
        if not in_table or line.startswith("--") or not line.strip():
            continue
        match = ANNOTATE_RE.match(line)
        if not match:
            continue
        count = int(match.group(1).replace(",", ""))
        location = match.group(2)
        function = location.split(":", 1)[1] if ":" in location else location
        key = (function, match.group(3) or "")
        costs[key] = costs.get(key, 0) + count
    return costs


def callers(profile: pathlib.Path) -> dict[str, dict[str, tuple[int, int]]]:
    """For each function, the instructions spent in it and the calls to it, by caller
    (callgrind_annotate's caller tree, self cost)."""
    text = subprocess.run(
        ["callgrind_annotate", "--tree=caller", "--threshold=100", "--inclusive=no",
         str(profile)], check=True, capture_output=True, text=True).stdout
    blocks: dict[str, dict[str, tuple[int, int]]] = {}
    pending: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        match = CALLER_RE.match(line)
        if not match:
            if not line.strip():
                pending = {}
            continue
        cost = int(match.group(1).replace(",", ""))
        calls = int((match.group(4) or "0").replace(",", ""))
        name = match.group(3).split(":", 1)[-1]
        if match.group(2) == "<":
            before = pending.get(name, (0, 0))
            pending[name] = (before[0] + cost, before[1] + calls)
        else:  # the function itself; it can come more than once (one file and another)
            block = blocks.setdefault(name, {})
            for caller, (cost, calls) in pending.items():
                before = block.get(caller, (0, 0))
                block[caller] = (before[0] + cost, before[1] + calls)
            pending = {}
    return blocks


def delta(one: dict[Any, int], more: dict[Any, int], k: int) -> dict[Any, float]:
    return {key: (more.get(key, 0) - one.get(key, 0)) / k for key in set(one) | set(more)
            if more.get(key, 0) != one.get(key, 0)}


def inclusive_per_event(profile1: pathlib.Path, profile2: pathlib.Path,
                        k: int) -> dict[str, float]:
    """Instructions per warm event by function, callees included."""
    costs: dict[str, float] = {}
    for (function, _), cost in delta(self_costs(profile1, True), self_costs(profile2, True),
                                     k).items():
        costs[function] = costs.get(function, 0) + cost
    return costs


# Where a warm webhook goes, callees included: (label, functions whose costs add up). Each
# label's functions do not call one another.
HOT_SPOTS = [
    ("SDK: the SendMessage call (orchestrator)",
     ["aws_smithy_runtime::client::orchestrator::invoke_with_stop_point::{{closure}}"
      "::{{closure}}::{{closure}}"]),
    ("  of which SigV4 signing", ["aws_sigv4::http_request::sign::sign"]),
    ("    of which the signing key, derived again", ["aws_sigv4::sign::v4::generate_signing_key"]),
    ("runtime: event to LambdaRequest (serde)",
     ["lambda_http::deserializer::<impl serde_core::de::Deserialize for "
      "lambda_http::request::LambdaRequest>::deserialize"]),
    ("ours: the log line (tracing span + event)",
     ["tracing::span::Span::record_all", "tracing_core::event::Event::dispatch"]),
    ("ours: HMAC of the body (Keyring::verifies)",
     ["qpr_webhooks::contract::signature::Keyring::verifies"]),
    ("ours: the message (outbox::compose)", ["qpr_webhooks::receiver::outbox::compose"]),
    ("memcpy (all callers)", ["__memcpy_avx_unaligned_erms"]),
    ("malloc + free + realloc (all callers)", ["malloc", "free", "realloc"]),
    ("core::fmt::write (all callers)", ["core::fmt::write"]),
]


def hot_spots(inclusive: dict[str, float]) -> list[dict[str, Any]]:
    return [{"label": label, "per_event": sum(inclusive.get(f, 0) for f in functions),
             "functions": functions} for label, functions in HOT_SPOTS]


def callers_per_event(profile1: pathlib.Path, profile2: pathlib.Path, k: int,
                      functions: list[str], top: int = 12) -> dict[str, dict[str, Any]]:
    """Calls to `functions` (libc's memcpy, malloc, free, realloc) per warm event, and who
    makes them."""
    one, more = callers(profile1), callers(profile2)
    found = {}
    for function in functions:
        first, second = one.get(function, {}), more.get(function, {})
        costs = delta({c: v[0] for c, v in first.items()}, {c: v[0] for c, v in second.items()},
                      k)
        calls = delta({c: v[1] for c, v in first.items()}, {c: v[1] for c, v in second.items()},
                      k)
        ranked = sorted(costs.items(), key=lambda item: -item[1])[:top]
        found[function] = {
            "calls_per_event": sum(calls.values()),
            "instructions_per_event": sum(costs.values()),
            "callers": [{"caller": c, "per_event": v, "calls_per_event": calls.get(c, 0)}
                        for c, v in ranked]}
    return found


def per_event(profile1: pathlib.Path, profile2: pathlib.Path, k: int) -> dict[str, Any]:
    one, more = self_costs(profile1), self_costs(profile2)
    functions = {}
    for key in set(one) | set(more):
        delta = (more.get(key, 0) - one.get(key, 0)) / k
        if delta:
            functions[key] = delta
    by_category: dict[str, float] = {}
    for (function, objfile), cost in functions.items():
        category = category_of(function, objfile)
        by_category[category] = by_category.get(category, 0) + cost
    ranked = sorted(functions.items(), key=lambda item: -item[1])
    return {
        "all_functions": [{"function": f, "per_event": c} for (f, _), c in ranked],
        "total": sum(functions.values()),
        "categories": dict(sorted(by_category.items(), key=lambda item: -item[1])),
        "top_functions": [{"function": f, "object": os.path.basename(o), "per_event": c,
                           "category": category_of(f, o)} for (f, o), c in ranked[:40]],
    }


# ---- the run --------------------------------------------------------------------------------


def fmt_int(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def ratio(peer: float | None, ours: float | None) -> str:
    if not peer or not ours:
        return "-"
    return f"{peer / ours:.1f}x"


def main() -> None:  # noqa: PLR0915 (one run, step by step)
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", type=pathlib.Path, required=True)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--receiver", type=pathlib.Path, required=True)
    parser.add_argument("--floor-dir", type=pathlib.Path, required=True,
                        help="where floor-runtime and floor-sqs are")
    parser.add_argument("--callgrind-dir", type=pathlib.Path, required=True,
                        help="the same binaries with symbols (for callgrind_annotate)")
    parser.add_argument("--peer-python", type=pathlib.Path, required=True)
    parser.add_argument("--cold", type=int, default=10)
    parser.add_argument("--warm", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--block", type=int, default=25,
                        help="warm webhooks to one subject before the next one's turn; the "
                        "queues are purged between blocks")
    parser.add_argument("--k", type=int, default=200, help="extra invocations under callgrind")
    parser.add_argument("--no-peer-callgrind", dest="peer_callgrind", action="store_false",
                        help="do not count the Python peer's instructions (CPython under "
                        "valgrind: some 30 s more)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    out: pathlib.Path = args.out
    profiles = out / "callgrind"
    profiles.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stack = Stack(args.state)
    events = Events(stack.state["secret"]["value"])
    function_env = {k: str(v) for k, v in stack.state["functions"]["receiver"].items()}
    timeout = function_env.get("FUNCTION_TIMEOUT_SECONDS", "10")
    body_file = out / "body.json"
    body_file.write_text(events.body(0))

    def receiver(binary: pathlib.Path, archive: bool) -> Subject:
        key = "receiver_archive_" + ("on" if archive else "off")
        label = "receiver, archive " + ("on" if archive else "off")
        return Subject(key, label, [str(binary)],
                       {**function_env, "ARCHIVE_ENABLED": "true" if archive else "false"})

    peer = Subject("python_peer", "python peer",
                   [str(args.peer_python), "-m", "awslambdaric", "handler.lambda_handler"],
                   {**function_env, "PYTHONPATH": str(PEER_DIR), "LAMBDA_TASK_ROOT": str(PEER_DIR),
                    # Lambda's Python runtime sets it beside AWS_REGION; boto3 reads only it
                    "AWS_DEFAULT_REGION": function_env["AWS_REGION"],
                    "PYTHONPYCACHEPREFIX": str(out / "pycache")},
                   cwd=PEER_DIR, callgrind=args.peer_callgrind)
    floor_runtime = Subject("floor_runtime", "floor-runtime",
                            [str(args.floor_dir / "floor-runtime")], function_env)
    subjects = [receiver(args.receiver, False), receiver(args.receiver, True), peer, floor_runtime]
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname()),
                    "clk_tck": CLK_TCK, "load_average_at_start": os.getloadavg()},
        "settings": {"cold_starts": args.cold, "warm_events": args.warm, "warmup": args.warmup,
                     "block": args.block,
                     "callgrind_k": args.k, "body_bytes": len(events.body(0).encode()),
                     "event": "scan.created, API Gateway HTTP API (v2)"},
        "subjects": {},
    }
    began = time.monotonic()

    # 1. cold starts, then the warm rounds, the subjects taking turns so that whatever else
    #    the machine does falls on all of them alike
    print(f"[{time.monotonic() - began:6.1f}s] cold starts: {args.cold} of each subject",
          flush=True)
    cold: dict[str, list[float]] = {subject.key: [] for subject in subjects}
    for _ in range(args.cold):
        for subject in subjects:
            stack.drain()
            cold[subject.key].append(
                cold_start(subject, events, logs / f"{subject.key}.log", timeout))
    print(f"[{time.monotonic() - began:6.1f}s] warm: {args.warm} webhooks to each subject, in "
          f"blocks of {args.block}", flush=True)
    stack.drain()
    warm: dict[str, Warm] = {}
    try:
        for subject in subjects:
            warm[subject.key] = Warm(subject, events, args.warmup,
                                     logs / f"{subject.key}.log", timeout)
        for _ in range(0, args.warm, args.block):
            for subject in subjects:
                stack.drain()  # not timed: moto's SendMessage slows down as a queue fills
                warm[subject.key].block(events, args.block)
        for subject in subjects:
            report["subjects"][subject.key] = {
                "label": subject.label, "command": subject.command,
                "cold_start_ms": {"median": statistics.median(cold[subject.key]),
                                  "runs": cold[subject.key]},
                **warm[subject.key].result(),
            }
    finally:
        for instance in warm.values():
            instance.stop()

    # 2. instructions per warm event, with callgrind, on the binaries with symbols
    def callgrind_subject(subject: Subject) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {subject.label}: callgrind, 1 and 1+{args.k}"
              " invocations", flush=True)
        log = logs / f"{subject.key}.callgrind.log"
        first = profiles / f"{subject.key}.1.out"
        second = profiles / f"{subject.key}.{1 + args.k}.out"
        total1 = callgrind_under_rie(subject, events, 1, first, log, stack)
        total2 = callgrind_under_rie(subject, events, 1 + args.k, second, log, stack)
        report["subjects"][subject.key]["instructions"] = {
            "per_event": (total2 - total1) / args.k, "total_1": total1,
            f"total_{1 + args.k}": total2, "profiles": [str(first), str(second)]}

    symbols = args.callgrind_dir
    callgrind_subjects = [
        receiver(symbols / "receiver", False),
        receiver(symbols / "receiver", True),
        Subject("floor_runtime", "floor-runtime", [str(symbols / "floor-runtime")], function_env),
    ]
    if args.peer_callgrind:
        callgrind_subjects.append(peer)
    for subject in callgrind_subjects:
        callgrind_subject(subject)
    if not args.peer_callgrind:
        report["subjects"]["python_peer"]["instructions"] = {
            "skipped": "--no-peer-callgrind"}

    print(f"[{time.monotonic() - began:6.1f}s] floor-sqs: callgrind, 1 and 1+{args.k} messages",
          flush=True)
    queue_url = next(q["url"] for q in stack.state["queues"] if q["name"] == "scans")
    sqs_env = {**function_env, **CALLGRIND_ENV}
    sqs_log = logs / "floor_sqs.callgrind.log"
    sqs_totals = []
    sqs_profiles = []
    for count in (1, 1 + args.k):
        stack.drain()
        profile = profiles / f"floor_sqs.{count}.out"
        sqs_totals.append(callgrind_command(
            [str(symbols / "floor-sqs"), queue_url, str(count), str(body_file)],
            sqs_env, profile, sqs_log))
        sqs_profiles.append(profile)
    floor_sqs = (sqs_totals[1] - sqs_totals[0]) / args.k
    report["subjects"]["floor_sqs"] = {"label": "floor-sqs", "instructions": {
        "per_event": floor_sqs, "total_1": sqs_totals[0], f"total_{1 + args.k}": sqs_totals[1],
        "profiles": [str(p) for p in sqs_profiles]}}
    stack.drain()

    # 3. where they go
    subjects_report = report["subjects"]
    breakdown = {}
    for key in ("receiver_archive_off", "receiver_archive_on", "floor_runtime", "floor_sqs"):
        first, second = subjects_report[key]["instructions"]["profiles"]
        breakdown[key] = per_event(pathlib.Path(first), pathlib.Path(second), args.k)
    for key in ("receiver_archive_off", "floor_runtime", "floor_sqs"):
        first, second = (pathlib.Path(p) for p in subjects_report[key]["instructions"]["profiles"])
        inclusive = inclusive_per_event(first, second, args.k)
        breakdown[key]["hot_spots"] = hot_spots(inclusive)
        breakdown[key]["inclusive_top"] = [
            {"function": f, "per_event": c}
            for f, c in sorted(inclusive.items(), key=lambda item: -item[1])[:60]]
        breakdown[key]["libc_callers"] = callers_per_event(first, second, args.k,
                                                           LIBC_ENTRY_POINTS)
    floor_categories: dict[str, float] = {}
    for key in ("floor_runtime", "floor_sqs"):
        for category, cost in breakdown[key]["categories"].items():
            floor_categories[category] = floor_categories.get(category, 0) + cost
    breakdown["floor_sum_categories"] = floor_categories
    report["breakdown"] = breakdown

    floor_runtime_instr = subjects_report["floor_runtime"]["instructions"]["per_event"]
    floor_sum = floor_runtime_instr + floor_sqs
    report["floor"] = {
        "floor_runtime": floor_runtime_instr, "floor_sqs": floor_sqs, "sum": floor_sum,
        "receiver_archive_off_percent_of_floor":
            100 * subjects_report["receiver_archive_off"]["instructions"]["per_event"] / floor_sum,
        "receiver_archive_on_percent_of_floor":
            100 * subjects_report["receiver_archive_on"]["instructions"]["per_event"] / floor_sum,
        "target_percent": 115,
    }
    # valgrind's virtual CPU has no SHA extensions (sha_ni), so under callgrind sha2 takes its
    # software path, some 20 times the instructions of SHA-NI: the same count without it.
    def sha256(key: str) -> float:
        return sum(item["per_event"] for item in breakdown[key]["all_functions"]
                   if item["function"].startswith("sha2::"))
    floor_without = floor_sum - sha256("floor_runtime") - sha256("floor_sqs")
    receiver_without = (subjects_report["receiver_archive_off"]["instructions"]["per_event"]
                        - sha256("receiver_archive_off"))
    report["floor"]["without_sha256"] = {
        "why": "valgrind hides the CPU's SHA extensions: sha2 runs in software under callgrind",
        "floor": floor_without, "receiver_archive_off": receiver_without,
        "receiver_archive_off_percent_of_floor": 100 * receiver_without / floor_without,
    }
    for key in ("receiver_archive_off", "receiver_archive_on", "floor_runtime", "floor_sqs"):
        del breakdown[key]["all_functions"]
    report["elapsed_seconds"] = time.monotonic() - began
    report["machine"]["load_average_at_end"] = os.getloadavg()
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"\nwritten: {out / 'report.json'} ({report['elapsed_seconds']:.0f} s)")


def print_table(report: dict[str, Any]) -> None:
    s = report["subjects"]
    rows = [("receiver_archive_off", s["receiver_archive_off"]),
            ("receiver_archive_on", s["receiver_archive_on"]),
            ("python_peer", s["python_peer"]), ("floor_runtime", s["floor_runtime"])]
    print(f"\n{report['settings']['warm_events']} warm webhooks of "
          f"{report['settings']['body_bytes']} bytes per subject, medians of "
          f"{report['settings']['cold_starts']} cold starts; CPU from /proc (user+system ticks "
          "of 10 ms; precise total from schedstat)")
    header = (f"{'subject':<22} {'cold start':>10} {'p50':>9} {'p99':>9} {'CPU user':>9} "
              f"{'CPU sys':>8} {'CPU total':>10} {'peak RSS':>9} {'instr/event':>12}")
    print(header)
    print("-" * len(header))
    for _, row in rows:
        cpu = row["cpu_us_per_event"]
        instructions = row.get("instructions", {}).get("per_event")
        latency = row["latency_us"]
        print(f"{row['label']:<22} {row['cold_start_ms']['median']:>7.1f} ms "
              f"{latency['p50'] / 1000:>6.2f} ms {latency['p99'] / 1000:>6.2f} ms "
              f"{cpu['user']:>6.0f} µs {cpu['system']:>5.0f} µs {cpu['total_schedstat']:>7.0f} µs "
              f"{row['peak_rss_kib'] / 1024:>5.1f} MiB {fmt_int(instructions):>12}")
    peer = s["python_peer"]
    print("\npeer / receiver (the headline; higher is better for the receiver):")
    for key in ("receiver_archive_off", "receiver_archive_on"):
        ours = s[key]
        cpu = ratio(peer["cpu_us_per_event"]["total_schedstat"],
                    ours["cpu_us_per_event"]["total_schedstat"])
        instructions = ratio(peer.get("instructions", {}).get("per_event"),
                             ours["instructions"]["per_event"])
        print(f"  {ours['label']:<22} cold start "
              f"{ratio(peer['cold_start_ms']['median'], ours['cold_start_ms']['median'])}, "
              f"p50 {ratio(peer['latency_us']['p50'], ours['latency_us']['p50'])}, "
              f"p99 {ratio(peer['latency_us']['p99'], ours['latency_us']['p99'])}, "
              f"CPU {cpu}, instructions {instructions}, "
              f"peak RSS {ratio(peer['peak_rss_kib'], ours['peak_rss_kib'])}")
    floor = report["floor"]
    print(f"\nfloor, instructions per warm event: floor-runtime {fmt_int(floor['floor_runtime'])}"
          f" + floor-sqs {fmt_int(floor['floor_sqs'])} = {fmt_int(floor['sum'])}")
    print(f"  receiver, archive off: {floor['receiver_archive_off_percent_of_floor']:.0f} % of "
          f"the floor (issue 12's target: at most {floor['target_percent']} %)")
    print(f"  receiver, archive on:  {floor['receiver_archive_on_percent_of_floor']:.0f} % of "
          "the floor (it also puts an S3 object, which the floor does not)")
    without = floor["without_sha256"]
    print(f"  without SHA-256 (software under valgrind, SHA-NI natively): receiver "
          f"{fmt_int(without['receiver_archive_off'])}, floor {fmt_int(without['floor'])}: "
          f"{without['receiver_archive_off_percent_of_floor']:.0f} %")
    breakdown = report["breakdown"]
    off = breakdown["receiver_archive_off"]
    floor_categories = breakdown["floor_sum_categories"]
    print("\nreceiver (archive off) per warm event by crate, against the floor's sum:")
    print(f"  {'category':<28} {'receiver':>10} {'floor':>10} {'added':>10} {'share':>7}")
    for category in sorted(set(off["categories"]) | set(floor_categories),
                           key=lambda c: -off["categories"].get(c, 0)):
        ours = off["categories"].get(category, 0)
        base = floor_categories.get(category, 0)
        if abs(ours) < 1 and abs(base) < 1:
            continue
        print(f"  {category:<28} {fmt_int(ours):>10} {fmt_int(base):>10} "
              f"{fmt_int(ours - base):>10} {100 * ours / off['total']:>6.1f}%")
    print("\nreceiver (archive off) per warm event, callees included, against the floor "
          "(floor-runtime + floor-sqs):")
    floor_spots = [a["per_event"] + b["per_event"] for a, b in
                   zip(breakdown["floor_runtime"]["hot_spots"],
                       breakdown["floor_sqs"]["hot_spots"], strict=True)]
    print(f"  {'':<46} {'receiver':>10} {'share':>6} {'floor':>10}")
    for spot, base in zip(off["hot_spots"], floor_spots, strict=True):
        print(f"  {spot['label']:<46} {fmt_int(spot['per_event']):>10} "
              f"{100 * spot['per_event'] / off['total']:>5.1f}% {fmt_int(base):>10}")
    print("\nlibc calls per warm event (receiver, archive off / floor):")
    for function in LIBC_ENTRY_POINTS:
        ours = off["libc_callers"][function]
        base = [breakdown[k]["libc_callers"][function] for k in ("floor_runtime", "floor_sqs")]
        print(f"  {function:<30} {ours['calls_per_event']:>6.0f} calls "
              f"{fmt_int(ours['instructions_per_event']):>9} instr / floor "
              f"{sum(b['calls_per_event'] for b in base):>6.0f} calls "
              f"{fmt_int(sum(b['instructions_per_event'] for b in base)):>9} instr")
        for caller in ours["callers"][:3]:
            print(f"      {fmt_int(caller['per_event']):>9} instr {caller['calls_per_event']:>5.0f}"
                  f" calls  from {caller['caller'][:90]}")
    print("\nreceiver (archive off), top functions per warm event (self cost):")
    for item in off["top_functions"][:25]:
        print(f"  {fmt_int(item['per_event']):>9} {100 * item['per_event'] / off['total']:>5.1f}%"
              f"  [{item['category']}] {item['function'][:110]}")


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
