"""The `api` function behind the HTTP API: lead capture and double opt-in (`ripen.web.signup`),
unsubscribe and preferences (`ripen.web.subscription`), product events (`ripen.web.events`, IAM only),
page views from email links (`ripen.web.visits`).

Thin: the resolver routes, the routes call the services. Built on the first request (CORS
origins come from the settings), never at import.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from ripen.handlers.observability import count_cold_start, logger, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext


def build_resolver(cors: CORSConfig | None = None) -> APIGatewayHttpResolver:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from ripen.web import events, signup, subscription, visits

    resolver = APIGatewayHttpResolver(cors=cors, enable_validation=True)
    resolver.include_router(signup.router)
    resolver.include_router(subscription.router)
    resolver.include_router(events.router)  # POST /events: IAM-authorized product events
    resolver.include_router(visits.router)  # POST /events/web: page views with a visitor token (public)
    return resolver


def cors_for(allowed_origins: str) -> CORSConfig | None:
    """CORS for fetch() from landing pages on other sites (ALLOWED_ORIGINS, comma-separated; "*" allows any)."""
    from aws_lambda_powertools.event_handler import CORSConfig

    origins = [o.strip() for o in allowed_origins.split(",") if o.strip()]
    if not origins:
        return None
    first, *others = origins
    return CORSConfig(allow_origin=first, extra_origins=others, allow_headers=["Content-Type", "Accept"], max_age=600)


@cache
def resolver() -> APIGatewayHttpResolver:
    from ripen.app import app

    return build_resolver(cors_for(app().settings.allowed_origins))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from ripen.app import app

    metrics = app().metrics
    count_cold_start(metrics)
    try:
        return resolver().resolve(event, context)
    finally:
        metrics.flush()  # the cold start, a hand-off a resubmission made, ...
