"""Time one real PDF through the ingestion state machine run locally by moto.

The real `statemachine/ingest.asl.json` runs in moto, and each Lambda task is
served in this process by its real handler, through the harness that the state
machine tests use. The wall time covers the handlers, S3 and DynamoDB in moto,
and the state machine's own bookkeeping. Usage:

    python scripts/benchmark_state_machine.py documents/paper_kimi_linear_technical_report.pdf
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest
from moto import mock_aws

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))

from lambda_harness import aws_environment, create_app, history, state_payloads  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", type=Path)
    parser.add_argument("--batch-size", type=int, default=8, help="pages per page batch (default 8)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory, pytest.MonkeyPatch.context() as monkeypatch:
        store = Path(directory) / "store"
        aws_environment(monkeypatch, store, batch_size=args.batch_size)
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            app = create_app(store)
            started = time.perf_counter()
            event = app.put_pdf(f"documents/{args.pdf.name}", args.pdf.read_bytes())
            description = app.ingest(event, timeout=1800)
            seconds = time.perf_counter() - started
            largest = max(len(payload.encode()) for _, payload in state_payloads(history(app.stepfunctions, description["executionArn"])))
            app.bridge.uninstall()

    print(f"status: {description['status']}")
    print(f"wall time: {seconds:.1f} s for {args.pdf.name} (batch size {args.batch_size}, load average {os.getloadavg()[0]:.2f})")
    print(f"OCR task invocations: {app.bridge.count('OcrBatch')}")
    print(f"largest state input or output: {largest / 1024:.1f} KB")
    return 0 if description["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
