"""Which stack an operator command works on: its settings, found the way the functions find theirs.

Three ways, in this order:
1. `--stack NAME` (with `--profile`/`--region`): the deployed stack's CloudFormation outputs name
   its tables, queues and secrets.
2. The environment variables the functions read (`LEADS_TABLE`, ...), with the standard
   `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL` pointing at DynamoDB Local if set.
3. The `ripen dev` running in this folder, which leaves its settings in `DEV_STACK_FILE`.

Everything else (the store, the lead-id key, the stats) then comes from the same composition root
the functions use (`ripen.app.App`): no second implementation of any rule.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ripen.app import App
    from ripen.config import Settings

# Where a running `ripen dev` leaves the settings its functions use (local keys included: dev only).
DEV_STACK_FILE = Path(".cache/dev-stack.json")

# Stack output -> the environment variable the functions read it from (template.yaml's Outputs).
OUTPUT_VARIABLES = {
    "LeadsTableName": "LEADS_TABLE",
    "EnrollmentsTableName": "ENROLLMENTS_TABLE",
    "MessagesTableName": "MESSAGES_TABLE",
    "HistoryTableName": "HISTORY_TABLE",
    "StatsTableName": "STATS_TABLE",
    "LimitsTableName": "LIMITS_TABLE",
    "SendingTableName": "SENDING_TABLE",
    "WarmupSchedule": "WARMUP_SCHEDULE",
    "WarmupStart": "WARMUP_START",
    "SendQueueUrl": "SEND_QUEUE_URL",
    "LinkSigningSecretArn": "TOKEN_SECRET_ARN",
    "LeadIdSecretArn": "LEAD_ID_SECRET_ARN",
    "ConfigurationSetName": "SES_CONFIGURATION_SET",
    "SalesBusName": "SALES_BUS_NAME",
}


_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


class OperatorError(Exception):
    """A failure an operator can act on: the command prints it as one line and exits non-zero."""


@dataclass(frozen=True)
class Target:
    """A stack to operate on: its settings plus, for a deployed stack, every CloudFormation output."""

    settings: Settings
    source: str  # "stack NAME (REGION)", "environment" or "ripen dev": said in reports
    outputs: Mapping[str, str] = field(default_factory=dict)
    profile: str | None = None
    # Credentials of a local engine (`ripen dev`'s): set for the command's clients if none are set.
    credentials: Mapping[str, str] = field(default_factory=dict)

    def use_credentials(self) -> None:
        for name, value in self.credentials.items():
            os.environ.setdefault(name, value)

    def app(self) -> App:
        from ripen.app import App

        return App(settings=self.settings)

    def client(self, service: str) -> Any:
        """A boto3 client for the stack's account and region (the endpoint variables apply)."""
        import boto3

        session = boto3.session.Session(profile_name=self.profile, region_name=self.settings.region)
        return session.client(service)  # type: ignore[call-overload]


def add_arguments(parser: Any) -> None:
    """The options every operator command takes."""
    parser.add_argument("--stack", metavar="NAME", help="a deployed stack (default: the environment, else ripen dev)")
    parser.add_argument("--profile", help="the AWS profile to use with --stack")
    parser.add_argument("--region", help="the stack's region (default: the profile's)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def resolve(
    stack: str | None = None,
    *,
    profile: str | None = None,
    region: str | None = None,
    env: Mapping[str, str] | None = None,
    dev_file: Path = DEV_STACK_FILE,
    cloudformation: Any = None,
) -> Target:
    """The target named by `--stack`, else by the environment, else the running `ripen dev`."""
    env = dict(os.environ if env is None else env)
    if stack:
        return _from_stack(stack, profile, region, env, cloudformation)
    if env.get("LEADS_TABLE"):
        return Target(_settings(env, region), "environment", profile=profile)
    if dev_file.is_file():
        kept = json.loads(dev_file.read_text(encoding="utf-8"))
        credentials = {k: kept.pop(k) for k in _CREDENTIALS if k in kept}
        return Target(_settings({**env, **kept}, region), "ripen dev", profile=profile, credentials=credentials)
    raise OperatorError(
        "which stack? give --stack NAME (a deployed stack), set LEADS_TABLE and the other table variables, "
        "or start `ripen dev` in this folder"
    )


def _from_stack(
    stack: str, profile: str | None, region: str | None, env: dict[str, str], cloudformation: Any
) -> Target:
    from botocore.exceptions import BotoCoreError, ClientError

    if cloudformation is None:
        import boto3

        try:
            cloudformation = boto3.session.Session(profile_name=profile, region_name=region).client("cloudformation")
        except BotoCoreError as exc:  # an unknown profile, no region
            raise OperatorError(f"cannot reach AWS: {exc}") from None
    where = cloudformation.meta.region_name
    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
            raise OperatorError(f"no stack named {stack} in {where} (check --region and --profile)") from None
        if error.get("Code") in {"AccessDenied", "AccessDeniedException"}:
            raise OperatorError(f"not allowed to read {stack}: cloudformation:DescribeStacks is missing") from None
        raise OperatorError(f"cannot read stack {stack}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise OperatorError(f"cannot read stack {stack}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found[0].get("Outputs", [])}
    if "LeadsTableName" not in outputs:
        raise OperatorError(f"stack {stack} has no LeadsTableName output: is it a ripen stack?")
    values = {variable: outputs[name] for name, variable in OUTPUT_VARIABLES.items() if name in outputs}
    values["AWS_REGION"] = where
    values["POWERTOOLS_METRICS_NAMESPACE"] = stack  # template.yaml: the functions count in the stack's name
    settings = _settings({**{k: v for k, v in env.items() if k.startswith("AWS_ENDPOINT_URL")}, **values}, where)
    return Target(settings, f"stack {stack} ({where})", outputs, profile)


def _settings(env: Mapping[str, str], region: str | None) -> Settings:
    from pydantic import ValidationError

    from ripen.config import Settings

    values = dict(env)
    if region:
        values["AWS_REGION"] = region
    endpoint = values.get("AWS_ENDPOINT_URL_DYNAMODB") or values.get("AWS_ENDPOINT_URL")
    if endpoint and not values.get("DYNAMODB_ENDPOINT"):
        values["DYNAMODB_ENDPOINT"] = endpoint
    try:
        return Settings.from_env(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise OperatorError(f"bad setting {first['loc'][0]}: {first['msg']}") from None


def write_dev_file(
    settings: Settings, path: Path = DEV_STACK_FILE, credentials: Mapping[str, str] | None = None
) -> None:
    """Leave the dev stack's settings (and its local engines' credentials) where operator commands
    find them; the file is private to this user and removed when the stack stops."""
    path.parent.mkdir(parents=True, exist_ok=True)
    values = {k: str(v) for k, v in settings.model_dump(by_alias=True).items() if v is not None}
    values.update({k: v for k, v in (credentials or {}).items() if k in _CREDENTIALS})
    path.touch(mode=0o600)
    path.write_text(json.dumps(values, indent=2), encoding="utf-8")
