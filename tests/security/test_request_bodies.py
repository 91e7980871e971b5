"""Attack: a huge body (5.5 MB, or 1.8 M form fields) posted to any route that reads one.

Every such route refuses it with 413 before parsing it, so a few requests cannot buy seconds of CPU
and hundreds of MB per call. One limit (MAX_BODY_BYTES, and at most MAX_FORM_FIELDS fields) for all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ripen.app import use
from ripen.handlers import api
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local.http import LambdaContext, http_api_event
from tests.support.ids import lead_id_for
from tests.support.mailstack import Stack, make_stack

FORM = "application/x-www-form-urlencoded"
HUGE = b"List-Unsubscribe=One-Click&choice=pause-14&email=a%40example.com&" + b"x" * 5_500_000
MANY_FIELDS = b"&".join([b"a=1"] * 1_800_000)  # 7.2 MB of tiny fields
FEW_BYTES_MANY_FIELDS = b"&" * 5_000 + b"&".join([b"a"] * 4_000)  # under the byte limit, over the field limit
ROUTES = [("POST", "/leads"), ("POST", "/confirm"), ("POST", "/unsubscribe"), ("POST", "/preferences")]


@pytest.fixture
def stack(clock, catalog) -> Iterator[Stack]:
    built = make_stack(InMemoryStore(), clock, catalog)
    use(built.app)
    yield built
    use(None)


def post(path: str, body: bytes, content_type: str = FORM, accept: str = "text/html") -> dict:
    headers = {"content-type": content_type, "accept": accept}
    return api.handler(http_api_event("POST", f"{path}?token=t", headers, body), LambdaContext())


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("body", [HUGE, MANY_FIELDS, FEW_BYTES_MANY_FIELDS], ids=["5.5MB", "1.8M-fields", "4k-fields"])
def test_given_a_huge_body_when_any_route_reads_it_then_the_answer_is_413_and_nothing_changes(
    stack, method, path, body
):
    response = post(path, body)
    assert response["statusCode"] == 413
    assert stack.store.get_lead(lead_id_for("a@example.com")) is None


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_given_a_huge_json_body_when_posted_then_a_json_caller_gets_413_as_json(stack, method, path):
    response = post(path, b'{"email": "' + b"x" * 5_500_000 + b'"}', content_type="application/json", accept="*/*")
    assert response["statusCode"] == 413
    if path == "/leads":
        assert json.loads(response["body"])["error"] == "payload_too_large"


def test_no_other_site_may_post_signups_with_fetch_until_the_operator_names_it():
    # Given the template as deployed without overrides
    from ripen_dev.local import cfn
    from tests.conftest import REPO

    parameter = cfn.load_template(REPO / "template.yaml")["Parameters"]["AllowedOrigins"]
    # Then it has no default (least of all "*"): each stage names its sites (samconfig.toml)
    assert "Default" not in parameter
    samconfig = (REPO / "samconfig.toml").read_text()
    assert samconfig.count("AllowedOrigins=") == samconfig.count("parameter_overrides")
    assert 'AllowedOrigins=\\"*' not in samconfig


def test_every_github_action_is_pinned_to_a_commit_a_moved_tag_cannot_change():
    # Given the CI and deploy workflows (the deploy job holds the AWS role)
    import re

    from tests.conftest import REPO

    uses = [
        line.split("uses:", 1)[1].strip()
        for path in sorted((REPO / ".github" / "workflows").glob("*.yml"))
        for line in path.read_text().splitlines()
        if "uses:" in line and "./" not in line
    ]
    # Then each names a full commit SHA, with the version beside it for Dependabot and readers
    assert uses
    unpinned = [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}\s+# v[\d.]+", u)]
    assert not unpinned, unpinned
