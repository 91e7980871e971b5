"""The CloudWatch metrics adapter (Powertools EMF): what lands in the log for CloudWatch to read."""

from __future__ import annotations

import json

from ripen.adapters.metrics import PowertoolsMetrics


def documents(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_per_sequence_counts_carry_the_sequence_dimension_beside_the_service(capsys):
    # Given an invocation that sent three emails, two of trial-nurture and one of ebook-nurture
    metrics = PowertoolsMetrics("ripen-prod")
    for sequence in ("trial-nurture", "trial-nurture", "ebook-nurture"):
        metrics.count("EmailsSent")
        metrics.count_for(sequence, "EmailsSent")
    # When its figures are flushed
    metrics.flush()
    found = documents(capsys.readouterr().out)
    # Then the stack-wide count keeps its one dimension, service
    [overall] = [d for d in found if "Sequence" not in d]
    assert overall["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert sum(overall["EmailsSent"]) == 3.0
    # and each sequence's count is one document, summed over the invocation, with Sequence and service
    per_sequence = {d["Sequence"]: d for d in found if "Sequence" in d}
    assert set(per_sequence) == {"trial-nurture", "ebook-nurture"}
    for sequence, sent in (("trial-nurture", 2.0), ("ebook-nurture", 1.0)):
        document = per_sequence[sequence]
        [declared] = document["_aws"]["CloudWatchMetrics"]
        assert declared["Namespace"] == "ripen-prod"
        assert sorted(declared["Dimensions"][0]) == ["Sequence", "service"]
        assert declared["Metrics"] == [{"Name": "EmailsSent", "Unit": "Count"}]
        assert (document["service"], document["EmailsSent"]) == ("ripen", [sent])


def test_a_flush_with_nothing_counted_writes_nothing_and_per_sequence_counts_do_not_carry_over(capsys):
    metrics = PowertoolsMetrics("ripen-prod")
    metrics.count_for("trial-nurture", "EmailsSent")
    metrics.flush()
    capsys.readouterr()
    metrics.flush()
    assert documents(capsys.readouterr().out) == []
