"""`ripen dev`: start the dev stack, print where things are, run until Ctrl-C (SIGINT) or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TextIO

# The stack never talks to AWS: its clients point at local engines, with credentials of its own.
DEV_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "ripendev", "AWS_SECRET_ACCESS_KEY": "ripendev", "AWS_REGION": "us-east-1"}
NOT_FOR_DEV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE")


def run_dev(args: argparse.Namespace, out: TextIO) -> int:
    for name in NOT_FOR_DEV:
        os.environ.pop(name, None)
    os.environ.update(DEV_ENVIRONMENT)
    # The functions log JSON (Powertools); the dev stack prints one line per event instead.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO" if args.verbose else "WARNING"
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "ripen")

    from ripen_dev.local.devstack.stack import DevOptions, DevStack
    from ripen_dev.operate.target import DEV_STACK_FILE

    options = DevOptions(
        port=args.port,
        host=args.host,
        templates=Path(args.templates),
        page=Path(args.page),
        persist=Path(args.persist) if args.persist else None,
        sweep_every=args.sweep_every,
        deliver=not args.manual_delivery,
        state_file=DEV_STACK_FILE,
    )
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, stopping) for sig in (signal.SIGINT, signal.SIGTERM)}
    print("ripen dev: starting DynamoDB Local and moto (SES, SQS, EventBridge) ...", file=out, flush=True)
    stack = DevStack(options, out)
    try:
        try:
            stack.start()
        except (OSError, RuntimeError, ValueError) as exc:
            print(f"ripen dev: cannot start: {exc}", file=out, flush=True)
            return 1
        print(banner(stack), file=out, flush=True)
        while not stop.wait(0.5):
            pass
        print("ripen dev: stopping ...", file=out, flush=True)
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("ripen dev: stopped", file=out, flush=True)
    return 0


def banner(stack: object) -> str:
    from ripen_dev.local.devstack.stack import DevStack

    assert isinstance(stack, DevStack)
    options = stack.options
    kept = f"kept in {options.persist}" if options.persist else "in memory (--persist keeps it)"
    return "\n".join(
        [
            "",
            f"  landing page   {stack.url}/",
            f"  outbox         {stack.outbox_url}",
            f"  API            {stack.url}/leads, /confirm, /unsubscribe, /preferences",
            f"  data           {kept}; dev time {stack.clock.now():%a %Y-%m-%d %H:%M} UTC",
            f"  sweep          every {options.sweep_every:g} s (every minute in AWS)",
            f"  DynamoDB Local {stack.endpoints['dynamodb']}",
            f"  moto           {stack.endpoints['moto']} (SES, SQS, EventBridge)",
            "",
            "  Sign up on the landing page, then open the outbox. Ctrl-C stops everything.",
            "",
        ]
    )
