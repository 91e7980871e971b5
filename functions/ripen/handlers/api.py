"""The `api` Lambda (HTTP API): pages and endpoints a lead reaches from a form or an email.

A thin adapter: Powertools routes each request to a route module (`ripen.web.*`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from ripen.app import app
from ripen.web import subscription

resolver = APIGatewayHttpResolver()
resolver.include_router(subscription.router)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return resolver.resolve(event, context)
    finally:
        app().flush_metrics()  # e.g. a hand-off a resubmission made
