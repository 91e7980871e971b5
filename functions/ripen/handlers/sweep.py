"""The sweep: EventBridge Scheduler invokes the nurture function every minute (template.yaml,
NurtureFunction), which hands the tick here (`ripen.handlers.nurture`).

Parse the tick, run the sweep within the invocation's time, publish its figures, with whether
SES is in the sandbox or has switched sending off (`SesSandbox`: GetAccount read once per
container, ripen.services.account_check; a failed read never fails the sweep).
"""

from __future__ import annotations

from typing import Any

from ripen.handlers.observability import count_cold_start, logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    from pydantic import ValidationError

    from ripen.app import app
    from ripen.models.schedule import ScheduleTick
    from ripen.services.sweep import SweepIncompleteError

    try:
        tick = ScheduleTick.model_validate(event)
    except ValidationError as exc:
        # The tick is only a trigger: a schedule with a wrong Input must not stop every timer.
        logger.warning("schedule input not understood; sweeping anyway", extra={"problems": exc.error_count()})
        tick = ScheduleTick()
    services = app()
    metrics = services.metrics  # the stack's namespace, like every function's figures
    count_cold_start(metrics)
    sweep = services.sweep
    if tick.scheduled_time is not None:
        lag = (sweep.clock.now() - tick.scheduled_time).total_seconds()
        logger.info("sweep tick", extra={"lag_seconds": round(lag, 3), "attempt": tick.attempt_number})
    try:
        services.account_check.publish(metrics)
        report = sweep.run(remaining_ms=context.get_remaining_time_in_millis)
        for name, value in report.metrics().items():
            metrics.count(name, value)
    finally:
        metrics.flush()
    if report.shards_failed:
        raise SweepIncompleteError(f"{report.shards_failed} shard(s) could not be read; the next run tries again")
    return report.as_dict()
