#!/usr/bin/env python3
"""A consumer's cost per batch of 10, with the idempotency store (DynamoDB on the local stack)
and without: the release scans-consumer under AWS's Runtime Interface Emulator, handed SQS
events of ten distinct scan.created records, as Lambda's event source hands them. Wall time
per batch (p50, p99, on the client's clock) and CPU per batch (the bootstrap's time on CPU,
from /proc), each after a warm-up. Called by bench.sh; writes consumer.json beside the report.

    consumer_bench.py --state STATE_DIR --out OUT_DIR --binary target/release/scans-consumer
"""
from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench import Emulator, Subject, layout, percentile, run_ns, stop_all  # noqa: E402

SCAN = json.loads((pathlib.Path(__file__).resolve().parents[1] / "samples"
                   / "scan.created.json").read_text())
WARMUP = 5


def batch(queue_arn: str) -> bytes:
    """An SQS event of ten scan.created records with fresh event ids."""
    records = []
    for n in range(10):
        event = {**SCAN, "id": f"evt_bench_{uuid.uuid4().hex}"}
        body = json.dumps(event)
        records.append({
            "messageId": str(uuid.uuid4()), "receiptHandle": f"r{n}", "body": body,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {
                name: {"stringValue": value, "dataType": "String"}
                for name, value in (("event_type", event["event"]), ("event_id", event["id"]),
                                    ("received_at", "2026-03-20T15:30:01Z"),
                                    ("request_id", "bench"))},
            "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
            "awsRegion": "us-east-1"})
    return json.dumps({"Records": records}).encode()


def measure(binary: str, env: dict[str, str], queue_arn: str, batches: int,
            log: pathlib.Path) -> dict[str, float]:
    emulator = Emulator(Subject("consumer", "scans-consumer", [binary], env), log,
                        timeout="30")
    try:
        for _ in range(WARMUP):
            answer = emulator.invoke(batch(queue_arn))
            assert answer == {"batchItemFailures": []}, answer  # noqa: S101
        pid = emulator.bootstrap_pid()
        walls = []
        cpu_before = run_ns(pid)
        for _ in range(batches):
            event = batch(queue_arn)
            started = time.perf_counter_ns()
            answer = emulator.invoke(event)
            walls.append((time.perf_counter_ns() - started) / 1000)
            assert answer == {"batchItemFailures": []}, answer  # noqa: S101
        cpu = (run_ns(pid) - cpu_before) / 1000 / batches
        return {"wall_us_p50": percentile(walls, 50), "wall_us_p99": percentile(walls, 99),
                "wall_us_mean": statistics.mean(walls), "cpu_us_per_batch": cpu}
    finally:
        emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True, type=pathlib.Path)
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--batches", type=int, default=100)
    args = parser.parse_args()
    state = layout.load_state(args.state)
    env = dict(state["functions"]["scans-consumer"])
    queue_arn = next(queue["arn"] for queue in state["queues"] if queue["name"] == "scans")
    without = {key: value for key, value in env.items() if not key.startswith("IDEMPOTENCY")}
    try:
        results = {
            "store_on": measure(args.binary, env, queue_arn, args.batches,
                                args.out / "logs" / "consumer-store-on.log"),
            "store_off": measure(args.binary, without, queue_arn, args.batches,
                                 args.out / "logs" / "consumer-store-off.log"),
        }
    finally:
        stop_all()
    (args.out / "consumer.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\nscans-consumer, a batch of 10 scan.created (the default handler: one log line each):")
    print(f"  {'':12} {'wall p50':>10} {'wall p99':>10} {'CPU':>10}")
    for name, figures in results.items():
        print(f"  {name.replace('_', ' '):12} {figures['wall_us_p50'] / 1000:>8.2f} ms "
              f"{figures['wall_us_p99'] / 1000:>7.2f} ms {figures['cpu_us_per_batch']:>7.0f} µs")


if __name__ == "__main__":
    main()
