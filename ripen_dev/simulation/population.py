"""A synthetic lead: drawn from the engagement model, then reacting to each email at random.

Every draw comes from one `random.Random` per shard of leads, in a fixed order, so a seed gives
the same population and the same behaviour on every run, whatever the number of workers.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate

from ripen.core.sequence import Sequence
from ripen_dev.simulation.model import UNKNOWN_ZONE, EngagementModel, Odds
from ripen_dev.simulation.play import DELIVERED, LeadEvent, Received, SentEmail

BOUNCE_NOTICE = timedelta(seconds=5)  # SES reports a bounce seconds after the send


@dataclass(frozen=True)
class LeadDraw:
    """Who the lead is: when they sign up, where, how engaged, whether a machine opens their mail."""

    signed_up_at: datetime
    timezone: str | None
    segment: str
    engagement: float
    machine_opens: bool


class Population:
    """Draws leads and their behaviour from one engagement model for one sequence."""

    def __init__(self, model: EngagementModel, sequence: Sequence, odds: Odds, start: datetime) -> None:
        self.model = model
        self.sequence = sequence
        self.odds = odds
        self.start = start
        zones = sorted(model.timezones.items())
        self._zones = [None if name == UNKNOWN_ZONE else name for name, _ in zones]
        self._zone_edges = list(accumulate(share for _, share in zones))
        self._segments = model.segments
        self._segment_edges = list(accumulate(s.share for s in model.segments))
        self._spread = model.signups.over.total_seconds()
        self.goal = sequence.goal_events[0] if sequence.goal_events else None

    def draw(self, rng: random.Random) -> LeadDraw:
        signed_up_at = self.start + timedelta(seconds=round(rng.random() * self._spread))
        zone = self._zones[min(bisect_right(self._zone_edges, rng.random()), len(self._zones) - 1)]
        segment = self._segments[min(bisect_right(self._segment_edges, rng.random()), len(self._segments) - 1)]
        machine = rng.random() < self.model.machine_opens
        return LeadDraw(signed_up_at, zone, segment.name, segment.engagement, machine)

    def behaviour(self, lead: LeadDraw, rng: random.Random) -> RandomBehaviour:
        return RandomBehaviour(self, lead, rng)


class RandomBehaviour:
    """One synthetic lead's reactions: the odds of the email's step and stage, scaled by the segment."""

    def __init__(self, population: Population, lead: LeadDraw, rng: random.Random) -> None:
        self.population = population
        self.lead = lead
        self.rng = rng

    def signed_up(self, at: datetime) -> list[LeadEvent]:
        p, rng = self.population, self.rng
        if p.goal is None:
            return []
        goal = p.model.goal
        if rng.random() < min(1.0, goal.share * self.lead.engagement):
            return [LeadEvent(at + goal.delay.draw(rng), "goal", name=p.goal)]
        return []

    def received(self, email: SentEmail) -> Received:
        p, rng, model = self.population, self.rng, self.population.model
        at = email.at
        if email.kind == "confirmation":
            odds = p.odds.of("", email.stage, 1.0)  # bounces as any email; nobody opens it to read
            draw = rng.random()
            if draw < odds.hard_bounce:
                return Received("hard", (LeadEvent(at + BOUNCE_NOTICE, "bounce", email.step, permanent=True),))
            if draw < odds.hard_bounce + odds.soft_bounce:
                return Received("soft", (LeadEvent(at + BOUNCE_NOTICE, "bounce", email.step),))
            if rng.random() < model.confirm.share:
                return Received(None, (LeadEvent(at + model.confirm.delay.draw(rng), "confirm", email.step),))
            return DELIVERED
        odds = p.odds.of(email.step, email.stage, self.lead.engagement)
        draw = rng.random()
        if draw < odds.hard_bounce:
            return Received("hard", (LeadEvent(at + BOUNCE_NOTICE, "bounce", email.step, permanent=True),))
        if draw < odds.hard_bounce + odds.soft_bounce:
            return Received("soft", (LeadEvent(at + BOUNCE_NOTICE, "bounce", email.step),))
        events: list[LeadEvent] = []
        step = email.step
        if self.lead.machine_opens:
            events.append(LeadEvent(at + model.machine_open_delay.draw(rng), "open", step, machine=True))
        read_at = at + model.open_delay.draw(rng)
        if rng.random() < odds.open:
            events.append(LeadEvent(read_at, "open", step))
            for link, chance in odds.clicks:
                if rng.random() < chance:
                    events.append(LeadEvent(read_at + model.click_delay.draw(rng), "click", step, link))
        draw = rng.random()
        if draw < odds.unsubscribe:
            events.append(LeadEvent(read_at + model.click_delay.draw(rng), "unsubscribe", step))
        elif draw < odds.unsubscribe + odds.complaint:
            events.append(LeadEvent(read_at + model.click_delay.draw(rng), "complaint", step))
        return Received(None, tuple(events))

    def woke(self, event: LeadEvent) -> list[LeadEvent]:
        return []
