"""`ripen simulate`: a synthetic population through one sequence, with the real engine on a virtual clock.

Leads are numbered and cut into shards of `SHARD_SIZE`; each shard draws from its own random
generator seeded by (seed, shard), so the population and every reaction depend only on the seed
and the number of leads, never on how many workers share the shards. Leads do not interact
(one sequence, its own frequency cap per lead), so each lead is played to the horizon on its own.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ripen.core.sequence import Sequence
from ripen_dev.simulation.funnel import Tally
from ripen_dev.simulation.model import EngagementModel, Odds
from ripen_dev.simulation.play import EngineRunner, LeadLoop, LeadTrace
from ripen_dev.simulation.population import Population

SHARD_SIZE = 1000

Progress = Callable[[int, int], None]  # (leads done, leads in all)


@dataclass(frozen=True)
class Plan:
    """Everything a run depends on: the same plan always gives the same result."""

    sequence: Sequence
    model: EngagementModel
    links: dict[str, frozenset[str]]
    leads: int
    days: int
    seed: int
    start: datetime
    model_file: str = "(built-in default)"

    @property
    def horizon(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def shards(self) -> int:
        return -(-self.leads // SHARD_SIZE)


@dataclass
class ShardResult:
    shard: int
    tally: Tally
    traces: list[LeadTrace] = field(default_factory=list)


@dataclass
class SimulationResult:
    plan: Plan
    tally: Tally
    seconds: float
    workers: int
    traces: list[LeadTrace] = field(default_factory=list)  # only when asked for (history export, tests)

    @property
    def lead_steps_per_second(self) -> float:
        """Engine decisions (one lead moved by one trigger) per second of wall time."""
        return self.tally.decisions / self.seconds if self.seconds > 0 else 0.0


def play_shard(plan: Plan, shard: int, keep_traces: bool = False) -> ShardResult:
    rng = random.Random(f"ripen-simulate/{plan.seed}/{shard}")  # noqa: S311 - a simulation, not a secret
    population = Population(plan.model, plan.sequence, Odds(plan.model, plan.links), plan.start)
    tally = Tally.empty(plan.sequence, plan.start, plan.days)
    traces: list[LeadTrace] = []
    horizon = plan.horizon
    sequence = plan.sequence
    for index in range(shard * SHARD_SIZE, min(plan.leads, (shard + 1) * SHARD_SIZE)):
        lead = population.draw(rng)
        trace = LeadTrace(f"sim-{index:07d}", lead.signed_up_at, lead.timezone, lead.segment)
        if lead.signed_up_at < horizon:
            runner = EngineRunner(sequence, trace.lead_id, lead.signed_up_at, lead.timezone)
            LeadLoop(sequence, runner, population.behaviour(lead, rng)).play(trace, horizon)
        tally.add(trace)
        if keep_traces:
            traces.append(trace)
    return ShardResult(shard, tally, traces)


_worker_plan: Plan | None = None


def _start_worker(plan: Plan) -> None:
    global _worker_plan
    _worker_plan = plan


def _play_in_worker(shard: int, keep_traces: bool) -> ShardResult:
    assert _worker_plan is not None
    return play_shard(_worker_plan, shard, keep_traces)


def simulate(
    plan: Plan, workers: int = 1, progress: Progress | None = None, keep_traces: bool = False
) -> SimulationResult:
    started = time.perf_counter()
    results: dict[int, ShardResult] = {}
    done = 0

    def finished(result: ShardResult) -> None:
        nonlocal done
        results[result.shard] = result
        done += result.tally.leads
        if progress:
            progress(done, plan.leads)

    workers = max(1, min(workers, plan.shards))
    if progress:
        progress(0, plan.leads)
    if workers == 1:
        for shard in range(plan.shards):
            finished(play_shard(plan, shard, keep_traces))
    else:
        # fork: workers start at once with the plan already in memory; elsewhere the plan is pickled
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        context = multiprocessing.get_context(method)
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(plan,)) as pool:
            pending: set[Future[ShardResult]] = {
                pool.submit(_play_in_worker, shard, keep_traces) for shard in range(plan.shards)
            }
            while pending:
                complete, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in complete:
                    finished(future.result())
    tally = Tally.empty(plan.sequence, plan.start, plan.days)
    traces: list[LeadTrace] = []
    for shard in sorted(results):  # the same order whatever finished first
        tally.merge(results[shard].tally)
        traces.extend(results[shard].traces)
    return SimulationResult(plan, tally, time.perf_counter() - started, workers, traces)


def default_workers() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def model_label(path: Path | None) -> str:
    return str(path) if path else "(built-in default)"
