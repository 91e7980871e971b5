"""What EventBridge Scheduler hands the sweep: the schedule's `Input` JSON, verbatim (no envelope),
with the scheduler's context attributes substituted (template.yaml, NurtureFunction)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ScheduleTick(BaseModel):
    """One tick of the schedule. Only a trigger: the sweep reads the time from its clock, so a
    late, retried or hand-made tick does the same work as a punctual one."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    task: str = "sweep"
    schedule_arn: str | None = Field(default=None, alias="scheduleArn")
    scheduled_time: datetime | None = Field(default=None, alias="scheduledTime")
    execution_id: str | None = Field(default=None, alias="executionId")
    attempt_number: int | None = Field(default=None, alias="attemptNumber", ge=1)
