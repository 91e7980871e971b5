"""The deploy contract, for every function template.yaml declares (generic: a new function is checked
the day it is added).

- Its Handler resolves and imports with only what Lambda will have: the files `functions/Makefile`
  ships (runtime requirements + the `ripen` package without local tools), built here for this
  machine's Python, plus the SDK the python3.13 runtime provides (boto3/botocore), plus the standard
  library. Every `ripen` module it can reach, lazily imported ones included, imports there too.
- Importing it stays lean: no AWS SDK, DynamoDB or email rendering code at import time.
- Every table the template declares can be created on DynamoDB Local as declared.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import pytest

from ripen_dev.local import cfn, resources
from tests.conftest import REPO
from tests.support.reach import reach

pytestmark = pytest.mark.integration

TEMPLATE = cfn.load_template(REPO / "template.yaml")
FUNCTIONS = cfn.resources_of_type(TEMPLATE, "AWS::Serverless::Function")
REPORT = REPO / "test-artifacts" / "handler-imports.json"
# What the python3.13 Lambda runtime provides next to the standard library (not in requirements.txt).
LAMBDA_RUNTIME = ("boto3", "botocore", "s3transfer", "dateutil", "six", "urllib3")
# Heavy packages a handler must not import before its first event asks for them. (botocore is not
# among them: Powertools' batch utility imports it, and every sender event calls SES anyway.)
NOT_AT_IMPORT = ("pynamodb", "jinja2", "css_inline", "markdown", "email_validator")

PROBE = textwrap.dedent(
    """
    import importlib, json, sys, sysconfig, time
    artifact, runtime, handler, *reachable = sys.argv[1:]
    sys.path[:0] = [artifact, runtime]
    module, _, name = handler.rpartition(".")
    started = time.perf_counter()
    entry = getattr(importlib.import_module(module), name)
    imported = time.perf_counter() - started
    at_import = sorted({m.split(".")[0] for m in sys.modules})
    for extra in reachable:
        importlib.import_module(extra)
    allowed = (artifact, runtime, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
    outside = sorted(
        str(getattr(m, "__file__", None))
        for m in list(sys.modules.values())
        if getattr(m, "__file__", None) and not str(m.__file__).startswith(allowed)
    )
    print(json.dumps({"callable": callable(entry), "import_seconds": imported, "at_import": at_import,
                      "outside": outside}))
    """
)


def uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


@pytest.fixture(scope="module")
def lambda_runtime(tmp_path_factory) -> Path:
    """The SDK the Lambda runtime provides, copied from this environment (same versions as uv.lock)."""
    folder = tmp_path_factory.mktemp("lambda-runtime")
    for name in LAMBDA_RUNTIME:
        module = __import__(name)
        source = Path(module.__file__)
        if source.name == "__init__.py":
            shutil.copytree(source.parent, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, folder / source.name)
    return folder


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    """Each function built by functions/Makefile's own recipe, for this machine's Python."""
    built = {}
    for function in FUNCTIONS:
        folder = tmp_path_factory.mktemp(function)
        done = subprocess.run(
            [
                "make",
                "--no-print-directory",
                "-C",
                str(REPO / "functions"),
                f"build-{function}",
                f"ARTIFACTS_DIR={folder}",
                f"TARGET_FLAGS=--python {sys.executable}",
                f"UV={' '.join(uv())}",
                "BYTECODE_PYTHON=",
            ],  # measured without bytecode, as when no python3.13 is at hand
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        built[function] = folder
    return built


def probe(function: str, artifact: Path, runtime: Path, bytecode: bool) -> dict:
    handler = FUNCTIONS[function]["Handler"]
    reachable = sorted(reach(REPO / "functions", handler.rpartition(".")[0]).modules)
    env = {"PATH": os.environ.get("PATH", ""), "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    env.update(resources.local_environment(REPO / "template.yaml", refs={}, function=function))
    flags = ["-I", "-S"] + ([] if bytecode else ["-B"])
    done = subprocess.run(
        [sys.executable, *flags, "-c", PROBE, str(artifact), str(runtime), handler, *reachable],
        capture_output=True,
        text=True,
        env=env,
        cwd=artifact,
        check=False,
    )
    assert done.returncode == 0, f"{function}: {handler} does not import from its artifact:\n{done.stderr}"
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_every_handler_imports_with_only_the_runtime_dependencies_and_stays_lean(artifacts, lambda_runtime):
    report = {}
    for function, artifact in artifacts.items():
        # Given the function's artifact and nothing else but the Lambda runtime's SDK and the stdlib
        assert not (artifact / "ripen" / "local").exists()
        assert not (artifact / "botocore").exists()
        # When its handler is imported in a fresh interpreter without bytecode (as on Lambda, where the
        # zip carries none and /var/task is read-only), then again with the bytecode that left behind
        cold = probe(function, artifact, lambda_runtime, bytecode=False)
        probe(function, artifact, lambda_runtime, bytecode=True)  # writes the bytecode
        warm = probe(function, artifact, lambda_runtime, bytecode=True)
        # Then the handler is a callable, and every module it can reach came from those three places
        assert cold["callable"], function
        assert cold["outside"] == [], f"{function} imported from outside its artifact: {cold['outside']}"
        # and importing it loaded none of the heavy packages its first event may need
        assert set(NOT_AT_IMPORT).isdisjoint(cold["at_import"]), f"{function} imports {cold['at_import']}"
        report[function] = {
            "handler": FUNCTIONS[function]["Handler"],
            "cold_ms": round(cold["import_seconds"] * 1000),
            "with_bytecode_ms": round(warm["import_seconds"] * 1000),
            "sdk_at_import": "botocore" in cold["at_import"],
        }
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps({"python": sys.version.split()[0], "functions": report}, indent=2) + "\n")


def test_every_table_in_the_template_is_created_on_dynamodb_local_as_declared(dynamodb_endpoint):
    # Given DynamoDB Local and the tables template.yaml declares
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    declared = cfn.resources_of_type(TEMPLATE, resources.TABLE)
    # When every one is created from its declaration
    names = resources.create_tables(client, TEMPLATE, prefix="contract-")
    # Then each exists with the keys, indexes and time to live it declares
    assert set(names) == set(declared)
    for logical_id, name in names.items():
        table = client.describe_table(TableName=name)["Table"]
        properties = declared[logical_id]
        assert table["KeySchema"] == properties["KeySchema"]
        indexes = {i["IndexName"]: i["KeySchema"] for i in table.get("GlobalSecondaryIndexes", [])}
        assert indexes == {i["IndexName"]: i["KeySchema"] for i in properties.get("GlobalSecondaryIndexes", [])}
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == cfn.ttl_attribute(properties)
    # and every table name a function gets through its environment is one of those tables
    for function in FUNCTIONS:
        env = resources.local_environment(REPO / "template.yaml", refs=names, function=function)
        tables = {value for key, value in env.items() if key.endswith("_TABLE")}
        assert tables <= set(names.values()), f"{function} names a table the template does not declare"
