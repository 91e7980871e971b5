"""The prices `make bench` and `ripen report` turn counts into: AWS on-demand, us-east-1, as published in 2026.

These are the published on-demand list prices the benchmarks use; they change. Check them against
https://aws.amazon.com/dynamodb/pricing/on-demand/, /lambda/pricing/, /sqs/pricing/, /eventbridge/pricing/
/xray/pricing/, /cloudwatch/pricing/, /ses/pricing/ and /step-functions/pricing/ when they do, and update
them here (the only place they are written).
"""

from __future__ import annotations

PER_MILLION = 1_000_000

WRITE_REQUEST_UNIT = 0.625 / PER_MILLION  # DynamoDB on-demand, standard table class
READ_REQUEST_UNIT = 0.125 / PER_MILLION
LAMBDA_GB_SECOND = 0.0000133334  # arm64, first tier
LAMBDA_REQUEST = 0.20 / PER_MILLION
SQS_REQUEST = 0.40 / PER_MILLION  # standard queue, after the free tier
XRAY_TRACE = 5.00 / PER_MILLION  # traces recorded (/xray/pricing/), with the template's Tracing=Active
EVENTBRIDGE_EVENT = 1.00 / PER_MILLION  # custom events put on a bus (AWS service events are free)
# CloudWatch Logs, what Lambda's logs are billed at ingestion (/cloudwatch/pricing/, vended logs, first
# tier): per GB of log events, each event's message plus 26 bytes; storage (compressed) is a small rest.
CLOUDWATCH_LOGS_GB = 0.50 / 1024**3
LOG_EVENT_OVERHEAD = 26
SES_EMAIL = 0.10 / 1_000  # outbound email (not infrastructure: shown on its own)
# Step Functions Standard workflows, per state transition: $0.025 per 1,000 (/step-functions/pricing/),
# for the comparison with a workflow-per-lead design (not a part of ripen).
STEP_FUNCTIONS_TRANSITION = 0.025 / 1_000

# The goal: what the infrastructure (DynamoDB, Lambda, SQS, EventBridge, logs) may cost per 1,000 emails.
TARGET_PER_THOUSAND = 0.005
