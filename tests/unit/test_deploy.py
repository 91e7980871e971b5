"""Deploying: every function builds the same way, gets every setting its code reads, is watched by
alarms; the template validates; samconfig.toml and the GitHub workflows deploy what the operator guide says."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml

from ripen.config import Settings
from ripen.ports.metrics import SEQUENCE
from ripen_dev.local import cfn
from tests.conftest import REPO
from tests.support.reach import POWERTOOLS_VARIABLES, reach

TEMPLATE = cfn.load_template(REPO / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = cfn.resources_of_type(TEMPLATE, "AWS::Serverless::Function")
GLOBALS = TEMPLATE["Globals"]["Function"]
ALIASES = {f.alias for f in Settings.model_fields.values() if f.alias}
# Read by the code but never set in template.yaml: Lambda sets the region and LAMBDA_TASK_ROOT, sam local
# sets AWS_SAM_LOCAL (both decide whether to trace); the others are local switches only.
NOT_FROM_THE_TEMPLATE = {
    "AWS_REGION",
    "LAMBDA_TASK_ROOT",
    "AWS_SAM_LOCAL",
    "DYNAMODB_ENDPOINT",
    "TOKEN_SECRET",
    "LEAD_ID_SECRET",
    "CAPTCHA_SECRET",
}
POWERTOOLS = POWERTOOLS_VARIABLES
STAGES = ("dev", "staging", "prod")


def environment(function: str) -> dict:
    variables = dict(GLOBALS["Environment"]["Variables"])
    variables.update(FUNCTIONS[function].get("Environment", {}).get("Variables", {}))
    return variables


def uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


# -- build ------------------------------------------------------------------------------------------


def test_every_function_is_built_by_the_makefile_for_python313_on_arm64():
    assert (GLOBALS["Runtime"], GLOBALS["Architectures"]) == ("python3.13", ["arm64"])
    for function in FUNCTIONS:
        resource = RESOURCES[function]
        assert resource.get("Metadata", {}).get("BuildMethod") == "makefile", function  # beside checkov skips
        assert FUNCTIONS[function]["CodeUri"] == "functions/", function
        assert "Runtime" not in FUNCTIONS[function], function
        assert "Architectures" not in FUNCTIONS[function], function
        # functions/Makefile has a target for it (dry run)
        done = subprocess.run(
            ["make", "-n", "-C", str(REPO / "functions"), f"build-{function}", "ARTIFACTS_DIR=/nowhere"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr


def dry_build(function: str, *settings: str) -> str:
    done = subprocess.run(
        ["make", "-n", "-s", "-C", str(REPO / "functions"), f"build-{function}", "ARTIFACTS_DIR=/artifacts", *settings],
        capture_output=True,
        text=True,
        check=True,
    )
    return " ".join(done.stdout.replace("\\\n", " ").split())


def test_the_build_uses_uv_when_there_is_one_and_pip_for_the_lambda_platform_when_there_is_none():
    # Given sam build --use-container, whose image has pip but no uv
    with_pip = dry_build("NurtureFunction", "UV=no-such-uv")
    # Then pip installs the shipped requirements as wheels only, for cp313 on arm64, into the artifact
    assert "python3 -m pip install" in with_pip
    assert " uv pip " not in with_pip
    for flag in ("--requirement requirements.txt", '--target "/artifacts"', "--only-binary=:all:", "--no-deps"):
        assert flag in with_pip, flag
    assert "--implementation cp --python-version 3.13" in with_pip
    # with every manylinux tag up to the runtime's glibc (2.34), or pip quietly picks older releases
    tags = re.findall(r"--platform (\S+)", with_pip)
    assert tags == [f"{tag}_aarch64" for tag in ("manylinux2014", "manylinux_2_24", "manylinux_2_28", "manylinux_2_34")]
    # And with uv at hand, uv installs them and pip is not used
    with_uv = dry_build("NurtureFunction", f"UV={' '.join(uv())}")
    assert "pip install" in with_uv
    assert "python3 -m pip" not in with_uv
    assert "--python-platform aarch64-manylinux_2_34 --python-version 3.13" in with_uv


def test_the_shipped_requirements_are_uv_lock_without_dev_dependencies_and_without_botocore():
    exported = subprocess.run(
        [
            *uv(),
            "export",
            "--frozen",
            "--no-dev",
            "--no-hashes",
            "--no-emit-project",
            "--no-header",
            "--no-annotate",
            "--prune",
            "botocore",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shipped = (REPO / "functions" / "requirements.txt").read_text()
    lines = [line for line in shipped.splitlines() if not line.startswith("#")]
    assert lines == exported.splitlines(), "functions/requirements.txt is stale: run `make requirements`"
    names = {re.split(r"[=;<> ]", line)[0] for line in lines}
    assert {"aws-lambda-powertools", "pynamodb", "jinja2"} <= names
    assert names.isdisjoint({"boto3", "botocore", "pytest", "moto", "mypy", "ruff", "aws-sam-cli", "cfn-lint"})


def test_the_build_ships_the_runtime_package_whole_and_nothing_in_it_is_a_dev_tool():
    # Given the build recipe and the runtime package
    makefile = (REPO / "functions" / "Makefile").read_text()
    # Then the package is copied as it is: what ships is what the layout shows, no delete list
    assert 'cp -R ripen "$(ARTIFACTS_DIR)/ripen"' in makefile
    assert not re.search(r"rm -rf[^\n]*ARTIFACTS_DIR\)/ripen/", makefile)
    # And no runtime module reaches the dev package (the command, fakes, dev stack, simulation)
    for path in sorted((REPO / "functions" / "ripen").rglob("*.py")):
        source = path.read_text()
        assert not re.search(r"^\s*(from|import) ripen_dev\b", source, re.M), f"{path} imports ripen_dev"
        assert not re.search(r"^class (Memory|InMemory|Outbox|Manual)\w*", source, re.M), f"{path} defines a fake"


def test_no_handler_can_reach_the_dev_package():
    for function, properties in FUNCTIONS.items():
        modules = reach(REPO / "functions", properties["Handler"].rpartition(".")[0]).modules
        assert not [m for m in modules if m.startswith("ripen_dev")], function


# -- settings ---------------------------------------------------------------------------------------


def test_every_function_gets_every_setting_its_code_can_read_and_nothing_unknown():
    for function, properties in FUNCTIONS.items():
        reads = reach(REPO / "functions", properties["Handler"].rpartition(".")[0]).variables
        variables = set(environment(function))
        missing = reads - NOT_FROM_THE_TEMPLATE - variables
        assert not missing, f"{function} reads {sorted(missing)}, which template.yaml does not set for it"
        unknown = variables - ALIASES - POWERTOOLS
        assert not unknown, f"{function} is given {sorted(unknown)}, which no code reads"


def test_every_function_logs_with_powertools_at_the_chosen_level_and_counts_in_the_stack_namespace():
    variables = GLOBALS["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "ripen"
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "AWS::StackName"}


def test_env_json_example_gives_sam_local_every_variable_of_every_function_from_the_stack_outputs():
    # Given the example for `sam local invoke <Function> --env-vars env.json` (values in <> are stack outputs)
    example = json.loads((REPO / "env.json.example").read_text())
    outputs = TEMPLATE["Outputs"]
    # Then it names every function, with exactly the variables template.yaml gives it
    assert set(example) == set(FUNCTIONS)
    for function, values in example.items():
        declared = environment(function)
        assert set(values) == set(declared), f"{function}: {set(values) ^ set(declared)}"
        for name, value in values.items():
            assert isinstance(value, str), f"{function} {name}"
            # and every value the stack makes (a table, a queue, the secret, ...) is read from an output
            placeholder = re.fullmatch(r"<(\w+)>", value)
            if placeholder:
                assert placeholder[1] in outputs, f"{function} {name}: no output {placeholder[1]}"
                if placeholder[1] != "ApiUrl":  # PUBLIC_BASE_URL: the API's URL unless one is given
                    assert outputs[placeholder[1]]["Value"] == declared[name], f"{function} {name}"
            else:  # a literal, or a value the deployer chooses (a parameter, the stack's name)
                assert references(declared[name]) <= set(TEMPLATE["Parameters"]) | {"AWS::StackName"}, name


def references(value: object) -> set[str]:
    text = json.dumps(value)
    return set(re.findall(r'"Ref": "([\w:]+)"', text)) | set(re.findall(r"\$\{([\w:]+)", text))


def test_every_function_name_is_a_stack_output_for_sam_logs_and_remote_invoke():
    values = [output["Value"] for output in TEMPLATE["Outputs"].values()]
    for function in FUNCTIONS:
        assert {"Ref": function} in values, function


# -- operations -------------------------------------------------------------------------------------


def alarms() -> dict[str, dict]:
    return cfn.resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm")


def test_every_function_has_an_errors_and_a_throttles_alarm():
    for function in FUNCTIONS:
        dimension = {"Name": "FunctionName", "Value": {"Ref": function}}
        watched = {
            a["MetricName"]
            for a in alarms().values()
            if a.get("Namespace") == "AWS/Lambda" and dimension in a["Dimensions"]
        }
        assert {"Errors", "Throttles"} <= watched, f"{function} lacks alarms: {watched}"


def test_every_alarm_notifies_the_alarm_topic_which_mails_the_alarm_email_when_given():
    for name, alarm in alarms().items():
        assert alarm.get("AlarmActions") == [{"Ref": "AlarmTopic"}], name
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


def test_ses_reputation_alarms_fire_before_the_review_thresholds_on_the_configuration_set():
    thresholds = {a["MetricName"]: a["Threshold"] for a in alarms().values() if a["Namespace"] == "AWS/SES"}
    assert thresholds == {"Reputation.BounceRate": 0.04, "Reputation.ComplaintRate": 0.0008}
    for alarm in alarms().values():
        if alarm["Namespace"] == "AWS/SES":
            assert alarm["Dimensions"] == [
                {"Name": "ses:configuration-set", "Value": {"Ref": "NurtureConfigurationSet"}}
            ]
    assert "SendingStopped" in {a["MetricName"] for a in alarms().values()}  # SES paused sending
    assert any(a["Namespace"] == "AWS/SQS" for a in alarms().values())  # dead letters


def test_the_dashboard_shows_every_function_and_every_alarm():
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for function in FUNCTIONS:
        assert f'"${{{function}}}"' in body, function
    for alarm in alarms():
        assert f"${{{alarm}.Arn}}" in body, alarm


def dashboard_widgets() -> list[dict]:
    """The dashboard's widgets as CloudWatch reads them (each ${...} substituted by a placeholder)."""
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{[^}]+\}", "stack", body))["widgets"]


def test_the_dashboard_shows_the_ses_sandbox_and_what_it_blocked():
    # Given the dashboard as CloudWatch reads it
    [widget] = [w for w in dashboard_widgets() if "SesSandbox" in json.dumps(w)]
    # Then the sweep's SesSandbox (1 while blocked) is shown at its maximum, with the emails it blocked
    metrics = widget["properties"]["metrics"]
    assert ["stack", "SesSandbox", "service", "ripen"] in metrics
    assert widget["properties"]["stat"] == "Maximum"
    assert ["stack", "EmailsBlockedBySandbox", "service", "ripen", {"stat": "Sum", "yAxis": "right"}] in metrics


def test_the_dashboard_shows_every_sequence_through_search_expressions_with_no_template_edit():
    # Given the dashboard as CloudWatch reads it (the namespace is the stack's name)
    expressions = [
        query["expression"]
        for widget in dashboard_widgets()
        for row in widget["properties"].get("metrics", [])
        for query in row
        if isinstance(query, dict) and "expression" in query
    ]
    # Then emails sent, sales-ready and converted leads are each one SEARCH over the metrics with a
    # Sequence dimension (as the services count them: ripen.ports.metrics.SEQUENCE), so a new
    # sequence shows up by itself
    named = [(re.search(r"MetricName=\"(\w+)\"", e), e) for e in expressions if e.startswith("SEARCH(")]
    searched = {found.group(1): e for found, e in named if found}
    assert set(searched) == {"EmailsSent", "LeadsSalesReady", "LeadsConverted"}
    for expression in searched.values():
        assert expression.startswith(f'SEARCH(\'{{"stack",{SEQUENCE},service}} MetricName=')
        assert expression.endswith("'Sum', 300)") or expression.endswith("'Sum', 3600)")


def test_every_http_api_is_throttled():
    defaults = TEMPLATE["Globals"].get("HttpApi", {}).get("DefaultRouteSettings", {})
    apis = cfn.resources_of_type(TEMPLATE, "AWS::Serverless::HttpApi")
    assert apis, "the template declares its HTTP API"
    for settings in [api.get("DefaultRouteSettings", defaults) for api in apis.values()]:
        assert settings.get("ThrottlingRateLimit")
        assert settings.get("ThrottlingBurstLimit")


def test_tables_keep_backups_are_encrypted_and_are_protected_from_deletion_in_prod():
    for name, table in cfn.resources_of_type(TEMPLATE, "AWS::DynamoDB::Table").items():
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert table["SSESpecification"] == {"SSEEnabled": True}, name
        assert table["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}, name


def sam_cli() -> list[str]:
    """The SAM CLI as `make build` runs it: a uv tool at the version the Makefile pins, not a project dependency."""
    [version] = re.findall(r"^SAM_CLI := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    try:
        subprocess.run([*uv(), "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("uv is not installed: it runs the SAM CLI")
    return [*uv(), "tool", "run", "--from", version, "sam"]


def test_the_sam_cli_is_a_tool_at_one_version_and_not_a_dependency_of_the_project():
    # Given the pinned SAM CLI and the project's lock
    [version] = re.findall(r"^SAM_CLI := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    locked = {p["name"] for p in tomllib.loads((REPO / "uv.lock").read_text())["package"]}
    # Then no environment of the project holds it (its pins would hold back the runtime's packages)
    assert "aws-sam-cli" not in locked
    # and make build and both deploys run that same version
    assert "$(SAM) build" in (REPO / "Makefile").read_text()
    deploys = [runs(job) for job in workflow("deploy.yml")["jobs"].values() if "steps" in job]
    for commands in [c for c in deploys if "sam deploy" in c]:
        assert f"uvx --from {version} sam deploy" in commands


def test_the_template_passes_sam_validate_with_lint():
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}  # uv's own settings (index, certificates) stay in force
    done = subprocess.run(
        [*sam_cli(), "validate", "--lint", "--template", str(REPO / "template.yaml")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- samconfig.toml ---------------------------------------------------------------------------------


def overrides(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(text))


@pytest.mark.parametrize("stage", STAGES)
def test_samconfig_deploys_each_stage_to_its_own_stack_with_every_required_parameter(stage):
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    deploy = config[stage]["deploy"]["parameters"]
    assert deploy["stack_name"] == f"ripen-{stage}"
    assert deploy["resolve_s3"] is True
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is (stage == "prod")
    given = overrides(deploy["parameter_overrides"])
    parameters = TEMPLATE["Parameters"]
    assert set(given) <= set(parameters), f"unknown parameters {set(given) - set(parameters)}"
    required = {name for name, p in parameters.items() if "Default" not in p}
    assert required <= set(given), f"{stage} lacks {required - set(given)}"
    assert given["Stage"] == stage
    for name, value in given.items():
        assert value in parameters[name].get("AllowedValues", [value]), name
    assert config["default"]["deploy"]["parameters"] == config["dev"]["deploy"]["parameters"]


# -- workflows --------------------------------------------------------------------------------------


def workflow(name: str) -> dict:
    loaded = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    loaded["on"] = loaded.pop(True, loaded.get("on"))  # YAML 1.1 reads the key `on` as true
    return dict(loaded)


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_ci_runs_every_check_and_builds_once_per_pull_request_and_once_per_deploy():
    ci = workflow("ci.yml")
    assert {"pull_request", "workflow_call"} <= set(ci["on"])
    # pushes to main and tags run it through deploy.yml only: a push of its own would run it twice
    assert "push" not in ci["on"]
    assert "pull_request" in ci["concurrency"]["cancel-in-progress"]
    commands = runs(ci["jobs"]["test"])
    assert "make test" in commands
    assert "make build" in commands


def test_deploy_assumes_a_role_through_oidc_and_deploys_staging_from_main_and_prod_from_tags_with_approval():
    deploy = workflow("deploy.yml")
    assert deploy["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    jobs = deploy["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    expected = {"staging": ("staging", "refs/heads/main"), "prod": ("production", "refs/tags/v")}
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    for name, (environment_name, ref) in expected.items():
        job = jobs[name]
        assert job["needs"] == "ci"
        assert job["environment"] == environment_name
        assert ref in job["if"]
        assert job["permissions"]["id-token"] == "write"
        [credentials] = [
            s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")
        ]
        assert "role-to-assume" in credentials["with"]
        assert "aws-access-key-id" not in credentials["with"]
        assert f"sam deploy --config-env {name} " in runs(job)
        assert name in config
