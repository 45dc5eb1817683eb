"""Writing one case's story: intake, handling, conclusion and what follows.

Why a module of its own: this is where the contract's order rules and the violations
live, event by event, and it is easier to check against the contract when it is not
mixed with choosing centers or releasing events. Pure: times come from the caller.

The order written here always respects the contract (§1): before `accepted` only
submitted / supplement_requested / supplement_received / not_accepted; `accepted` once;
after `concluded` only delivered / evaluated / rectified / complained /
complaint_answered. Violations are of other kinds (see `IRREGULARITIES`) and never break
that order.

Handling steps follow the item's catalogue (contract §8): each `step_completed` in the
catalogue's order, within its stage's limit (counted from the step before it), unless
the story means a late stage. Every event a member of staff writes carries the
department, window and staff member (§7).
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from supervisor.centers import Center
from supervisor.simulate import people
from supervisor.simulate.catalogue import Item, Limit
from supervisor.simulate.worktime import WorkCalendar

Event = dict[str, Any]
Kind = Literal["normal", "late", "irregular"]
Ending = Literal["concluded", "not_accepted", "withdrawn"]
Extra = tuple[str, dict[str, Any] | None]

#: The violations an irregular story commits, named by the rule that should catch it.
IRREGULARITIES: tuple[str, ...] = (
    "supplement.repeated",
    "fee.overcharge",
    "workflow.no_decision",
    "workflow.step_skipped",
    "extension.unapproved",
    "suspension.no_reason",
    "evaluation.negative",
    "stage.overdue",
    "catalogue.limit_mismatch",
    "catalogue.unknown_item",
    "complaint.unanswered",
)
#: How often each is drawn, relative to the others: an unanswered complaint is half as
#: common, so that most complaints (normal cases give some) are answered.
IRREGULARITY_WEIGHTS: tuple[float, ...] = tuple(
    0.5 if name == "complaint.unanswered" else 1.0 for name in IRREGULARITIES
)
#: Violations that only make sense on an item that is not decided on the spot.
NEEDS_PROCEDURE = frozenset(
    {
        "workflow.no_decision",
        "workflow.step_skipped",
        "extension.unapproved",
        "suspension.no_reason",
        "stage.overdue",
        "catalogue.limit_mismatch",
    }
)
#: Violations that need an item with at least this many catalogued steps.
NEEDS_STEPS = {"workflow.step_skipped": 1, "stage.overdue": 2}

#: How long before a stage's end a step planned in time is completed, at the latest.
_STAGE_MARGIN = timedelta(minutes=30)
_MINUTE = timedelta(minutes=1)
#: Share of normal concluded cases (and of late ones) whose applicant complains; the
#: complaint is answered within 1-10 working days (complaint.unanswered allows 15).
_COMPLAINT_SHARE = {"normal": 0.025, "late": 0.1}

# Staff and windows per center level (the city center had 118 windows in the article).
_STAFF = {"city": 60, "county": 30, "township": 6}
_WINDOWS = {"city": 118, "county": 40, "township": 6}

_SUSPENSION_REASONS = {
    "inspection": "现场核查",
    "expert_review": "组织专家评审",
    "public_notice": "公示期",
    "testing": "检验检测",
}
_RATING_COMMENTS = {
    5: ("办事效率高，服务态度好", "一次办好，很满意", "窗口人员耐心细致"),
    4: ("办事效率较高", "流程清楚，总体满意", "指引清楚"),
    3: ("等候时间有点长", "基本满意"),
    2: ("要求提供办事指南以外的材料", "超期未办结且未说明原因", "多次往返才办成"),
    1: ("工作人员态度差", "办理超期，无人解释", "材料没有一次性告知，跑了好几趟"),
}
_DENY_REASONS = ("申请材料不符合法定条件", "经现场核查，不符合许可条件", "申请人不具备申请资格")
_NOT_ACCEPTED = ("申请事项不属于本机关职权范围", "申请事项依法不需要取得行政许可")
_COMPLAINTS = ("窗口多次要求补充材料", "被要求提供办事指南以外的材料", "对差评处理结果不满意")
_CASE_COMPLAINTS = ("办理进度慢，无人告知进展", "窗口工作人员解释不清", "办结后证照迟迟未送达")
_LICENCE_LAW_ART32 = "《中华人民共和国行政许可法》第三十二条"

#: Normal ratings: mostly 非常满意.
_USUAL_RATINGS = ((5, 4, 3), (70, 22, 8))
#: Ratings of late cases: lower, but not bad (a bad one would be another violation).
_LATE_RATINGS = ((5, 4, 3), (3, 4, 3))


class StoryWriter:
    """Accumulates one case's events, keeping their times strictly increasing."""

    def __init__(self, rng: random.Random, center: Center, case_id: str, department: str) -> None:
        self._rng = rng
        self.center = center
        self.case_id = case_id
        self.department = department
        self.staff_id = f"{center.code}-{rng.randint(1, _STAFF[center.level]):03d}"
        self.window_id = f"W{rng.randint(1, _WINDOWS[center.level]):02d}"
        self.events: list[Event] = []
        self.times: list[datetime] = []

    @property
    def last(self) -> datetime:
        return self.times[-1]

    def add(
        self,
        kind: str,
        at: datetime,
        payload: dict[str, Any] | None = None,
        *,
        applicant: dict[str, str] | None = None,
        by_applicant: bool = False,
        at_window: bool = True,
    ) -> datetime:
        """Append an event; returns its time (moved after the previous one if needed)."""
        at = at.replace(microsecond=0)
        if self.times and at <= self.times[-1]:
            at = self.times[-1] + timedelta(seconds=self._rng.randint(20, 120))
        event: Event = {
            "schema_version": "1",
            "event_id": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            "case_id": self.case_id,
            "center_id": self.center.code,
            "type": kind,
            "occurred_at": at.isoformat(timespec="seconds"),
        }
        if not by_applicant:
            event["staff_id"] = self.staff_id
        if at_window:
            event["window_id"] = self.window_id
        event["department"] = self.department
        if applicant is not None:
            event["applicant"] = applicant
        if payload is not None:
            event["payload"] = payload
        self.events.append(event)
        self.times.append(at)
        return at


def suits(item: Item, kind: Kind, irregularity: str | None) -> bool:
    """Whether a case of `item` can be of this kind and show this irregularity: a late
    case or a procedural violation needs an item not decided on the spot, a skipped or
    late step needs catalogued steps, a longer promise is declared in working days (so
    that its deadline is always later than the catalogue's)."""
    if (kind == "late" or irregularity in NEEDS_PROCEDURE) and item.immediate:
        return False
    if len(item.steps) < NEEDS_STEPS.get(irregularity or "", 0):
        return False
    return irregularity != "catalogue.limit_mismatch" or item.promised_limit.unit == "working_day"


class CasePlan:
    """Writes one story of a given kind into a `StoryWriter`.

    `now` is the moment the story is planned at: a late case is never concluded before
    both its deadline and `now`, so that it is still open when the backlog goes out.
    `item_code` is the code the center declares on `accepted` when it is not the item's
    own (a case filed under a code its place does not catalogue).
    """

    def __init__(
        self,
        rng: random.Random,
        calendar: WorkCalendar,
        story: StoryWriter,
        item: Item,
        kind: Kind,
        irregularity: str | None,
        now: datetime,
        item_code: str | None = None,
    ) -> None:
        self.rng = rng
        self.cal = calendar
        self.story = story
        self.item = item
        self.kind = kind
        self.irregularity = irregularity
        self.now = now
        self.item_code = item_code or item.item_code
        self.promised = item.promised_limit
        if irregularity == "catalogue.limit_mismatch":
            # declared longer than the catalogue's (working days: always a later deadline)
            longer = item.promised_limit.value + rng.choice((2, 3, 5, 10))
            self.promised = Limit(longer, item.promised_limit.unit)
        self.accepted_at: datetime | None = None
        self.deadline: datetime | None = None

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(seconds=self.rng.randint(int(low * 60), int(high * 60)))

    def run(self, submitted: datetime, gaps: list[int]) -> Ending:
        """Write the whole story; `gaps` are the working days each supplement takes."""
        story, item = self.story, self.item
        # City applicants: residents of the city proper (金城江区).
        area = story.center.code[:6] if story.center.level != "city" else "451202"
        applicant = people.applicant(self.rng, area, submitted.date())
        at = story.add("submitted", submitted, applicant=applicant)
        if self.kind == "normal" and self.rng.random() < 0.03:
            reason = self.rng.choice(_NOT_ACCEPTED)
            payload = {"reason": reason, "legal_basis": _LICENCE_LAW_ART32}
            story.add("not_accepted", at + self.minutes(5, 20), payload)
            return "not_accepted"
        for gap in gaps:
            count = min(len(item.materials), self.rng.randint(1, 2))
            missing = self.rng.sample(item.materials, k=count)
            at = story.add(
                "supplement_requested", at + self.minutes(4, 15), {"missing_materials": missing}
            )
            day = self.cal.add_workdays(at.date(), gap)
            at = story.add("supplement_received", self.cal.office_time_on(self.rng, day))
        accepted = item.accepted_payload(item_code=self.item_code, promised=self.promised)
        at = story.add("accepted", at + self.minutes(3, 15), accepted)
        self.accepted_at = at
        self.deadline = self.cal.deadline(at, self.promised)
        if item.fee_standard > 0 or self.irregularity == "fee.overcharge":
            fee = {"amount": self._fee(), "currency": "CNY"}
            at = story.add("fee_charged", at + self.minutes(1, 8), fee)
        if item.immediate:
            return self._on_the_spot(at)
        if self.kind == "late":
            return self._late(at)
        return self._in_time(at)

    def _fee(self) -> float:
        standard = self.item.fee_standard
        if self.irregularity != "fee.overcharge":
            return _num(standard)
        if standard > 0:
            return _num(standard + self.rng.choice((20, 40, 50, standard)))
        return _num(self.rng.choice((10, 20, 50, 100)))

    def _on_the_spot(self, at: datetime) -> Ending:
        """即办件: handled, decided and concluded during the applicant's visit."""
        story = self.story
        for step in self.item.required_steps:
            at = story.add("step_completed", at + self.minutes(1, 6), _step(step))
        at = story.add("decided", at + self.minutes(1, 4), self._decision(approve=True))
        at = story.add("concluded", at + self.minutes(0.5, 2))
        at = story.add("delivered", at + self.minutes(1, 3))
        self._follow_up(at + self.minutes(1, 3), _USUAL_RATINGS)
        return "concluded"

    def _in_time(self, accepted: datetime) -> Ending:
        """Concluded within 20-60% of the promised limit (the catalogue's), each step in
        its stage, with any planned violation; a late stage still concludes in time.

        The steps and the decision fall on office-hour moments; clock events
        (suspension, extension) go between two of them; a withdrawal replaces one.
        """
        story, rng = self.story, self.rng
        promised = self.item.promised_limit
        start = story.last + self.minutes(20, 40)
        latest = self.cal.fraction_point(accepted, promised, rng.uniform(0.2, 0.6))
        if latest <= start + timedelta(hours=1):
            latest = self.cal.fraction_point(accepted, promised, 0.6)
        steps = list(self.item.steps)
        if self.irregularity == "stage.overdue":
            moments = self._late_stage(accepted, start)
        else:
            moments = self._stage_times(accepted, start, latest)
        if self.irregularity == "workflow.step_skipped":
            # the last step is never completed: the decision comes when it would have
            steps = steps[:-1]
            moments = moments[:-1]
        withdraws = self.kind == "normal" and rng.random() < 0.02
        withdraw = rng.randrange(len(moments)) if withdraws else -1
        extra = self._extras()
        extra_before = rng.randrange(len(moments)) if extra else -1
        previous = concluded = start
        for index, at in enumerate(moments):
            if index == withdraw:
                story.add("withdrawn", at)
                return "withdrawn"
            if index == extra_before:
                self._insert(extra, previous, at)
            previous = at
            if index < len(steps):
                story.add("step_completed", at, _step(steps[index].step))
            elif self.irregularity == "workflow.no_decision":
                concluded = story.add("concluded", at)
            else:
                decided = story.add("decided", at, self._decision(approve=rng.random() >= 0.05))
                concluded = story.add("concluded", decided + self.minutes(2, 20))
        self._aftermath(concluded, _USUAL_RATINGS)
        return "concluded"

    def _stage_times(
        self,
        accepted: datetime,
        start: datetime,
        latest: datetime,
        first: int = 0,
        since: datetime | None = None,
    ) -> list[datetime]:
        """Moments for steps[first:], each completed in its stage, then the decision.

        Moments are drawn in office hours over (start, latest], then each step is kept
        inside its stage: before its limit counted from the step before it (`since`, or
        acceptance), less `_STAGE_MARGIN`. A drawn moment outside that bound is drawn
        again inside it."""
        cal, rng = self.cal, self.rng
        steps = self.item.steps[first:]
        end = max(latest, start + timedelta(minutes=5))
        drawn = cal.office_points(rng, start, end, len(steps) + 1)
        times: list[datetime] = []
        previous = start
        stage_start = accepted if since is None else since
        for index, step in enumerate(steps):
            bound = cal.after(stage_start, step.limit) - _STAGE_MARGIN
            at = drawn[index]
            if not previous < at <= bound:
                at = cal.office_points(rng, previous, max(bound, previous + _MINUTE), 1)[0]
            times.append(at)
            previous = stage_start = at
        decision = drawn[-1]
        if decision <= previous:
            decision = cal.office_points(
                rng, previous, max(latest, previous + timedelta(minutes=30)), 1
            )[0]
        return [*times, decision]

    def _late_stage(self, accepted: datetime, start: datetime) -> list[datetime]:
        """Moments for a case with one stage overrun (环节超时) and still concluded in time:
        the steps before it in their stages, the late step after its stage's end, the rest
        hurried (each within its own stage) before the promised deadline."""
        cal, rng = self.cal, self.rng
        assert self.deadline is not None
        steps = self.item.steps
        half = cal.fraction_point(accepted, self.item.promised_limit, 0.5)
        planned = self._stage_times(accepted, start, max(half, start + timedelta(hours=1)))
        finish_by = self.deadline - timedelta(hours=1)
        choices = list(range(len(steps)))
        rng.shuffle(choices)
        late, due = 0, cal.after(accepted, steps[0].limit)
        for index in choices:  # the first step always has room: its limit is not all of it
            begun = accepted if index == 0 else planned[index - 1]
            ends = cal.after(begun, steps[index].limit)
            if ends + timedelta(hours=2) * (len(steps) - index + 1) < finish_by:
                late, due = index, ends
                break
        room = max((finish_by - due) / (len(steps) - late + 1), timedelta(minutes=30))
        overrun = cal.office_points(
            rng, due + timedelta(minutes=15), due + min(room, timedelta(hours=20)), 1
        )[0]
        rest = self._stage_times(accepted, overrun, finish_by, first=late + 1, since=overrun)
        return [*planned[:late], overrun, *rest]

    def _late(self, accepted: datetime) -> Ending:
        """Some steps in time, then nothing until after the promised deadline (and now):
        the step under way overruns its stage too."""
        story, rng, cal = self.story, self.rng, self.cal
        assert self.deadline is not None
        steps = list(self.item.required_steps)
        early = rng.randint(0, max(len(steps) - 1, 0))
        start = story.last + self.minutes(20, 40)
        half = max(cal.fraction_point(accepted, self.item.promised_limit, 0.5), start)
        in_time = self._stage_times(accepted, start, half + timedelta(minutes=5))
        for step, at in zip(steps[:early], in_time, strict=False):
            story.add("step_completed", at, _step(step))
        resume = max(self.deadline, self.now, story.last)
        last_day = cal.add_workdays(resume.date(), rng.randint(1, 5))
        rest = steps[early:]
        moments = cal.office_points(
            rng, resume, cal.midnight(last_day) + timedelta(days=1), len(rest) + 1
        )
        for step, at in zip(rest, moments, strict=False):
            story.add("step_completed", at, _step(step))
        decided = story.add("decided", moments[-1], self._decision(approve=True))
        concluded = story.add("concluded", decided + self.minutes(2, 20))
        self._aftermath(concluded, _LATE_RATINGS)
        return "concluded"

    def _extras(self) -> list[Extra]:
        """Clock events for the handling phase: the planned violation, or now and then
        a lawful suspension or an approved extension on a normal case."""
        rng, story = self.rng, self.story
        if self.irregularity == "suspension.no_reason":
            payload = None if rng.random() < 0.5 else {"reason": "等待相关部门意见"}
            return [("suspended", payload), ("resumed", None)]
        if self.irregularity == "extension.unapproved":
            unapproved = {
                "value": rng.randint(3, 10),
                "unit": "working_day",
                "reason": "材料需进一步核实",
            }
            return [("extended", unapproved)]
        if self.kind != "normal":
            return []
        draw = rng.random()
        if draw < 0.08:
            if "site_inspection" in self.item.required_steps:
                code = "inspection"
            else:
                code = rng.choice(("expert_review", "public_notice", "testing"))
            reason = {"reason_code": code, "reason": _SUSPENSION_REASONS[code]}
            return [("suspended", reason), ("resumed", None)]
        if draw < 0.12:
            approved = {
                "value": rng.randint(2, 5),
                "unit": "working_day",
                "approved_by": f"{story.department}主要负责人",
                "reason": "需补充核查",
            }
            return [("extended", approved)]
        return []

    def _insert(self, extra: list[Extra], after: datetime, before: datetime) -> None:
        """Place clock events between two planned events, in their order."""
        span = (before - after).total_seconds()
        shares = sorted(self.rng.uniform(0.1, 0.9) for _ in extra)
        for (kind, payload), share in zip(extra, shares, strict=True):
            self.story.add(kind, after + timedelta(seconds=span * share), payload)

    def _decision(self, *, approve: bool) -> dict[str, Any]:
        if approve:
            return {"outcome": "approve", "legal_basis": self.item.legal_basis}
        reason = self.rng.choice(_DENY_REASONS)
        return {"outcome": "deny", "reason": reason, "legal_basis": self.item.legal_basis}

    def _aftermath(self, concluded: datetime, ratings: tuple[tuple[int, ...], ...]) -> None:
        """Delivery within two working days, then maybe a rating and a complaint."""
        cal = self.cal
        last_day = cal.add_workdays(concluded.date(), self.rng.randint(1, 2))
        until = cal.midnight(last_day) + timedelta(days=1)
        delivered = cal.office_points(self.rng, concluded + self.minutes(5, 30), until, 1)[0]
        at = self.story.add("delivered", delivered)
        self._follow_up(at + self.minutes(1, 5), ratings)

    def _follow_up(self, at: datetime, ratings: tuple[tuple[int, ...], ...]) -> None:
        """好差评, then 投诉: what the applicant does once the case is closed.

        About half the applicants rate; a bad rating is followed up (usually: rectified)
        and now and then complained about. Some applicants complain without a bad
        rating. A complaint is answered within 1-10 working days (complaint.unanswered
        allows 15), unless the story means it never to be."""
        story, rng = self.story, self.rng
        follow: list[tuple[datetime, str, dict[str, Any] | None]] = []
        level: int | None = None
        if self.irregularity == "evaluation.negative":
            level = rng.choice((1, 2))
        elif rng.random() < 0.55:
            levels, weights = ratings
            level = rng.choices(levels, weights=weights)[0]
        complaint: str | None = None
        if level is not None:
            comment = rng.choice(_RATING_COMMENTS[level])
            at = story.add("evaluated", at, {"level": level, "comment": comment}, by_applicant=True)
            if level <= 2:
                if rng.random() < 0.3:
                    complaint = rng.choice(_COMPLAINTS)
                if rng.random() < 0.7:
                    day = self.cal.add_workdays(at.date(), rng.randint(2, 10))
                    note = {"note": "已回访申请人，问题已整改"}
                    follow.append((self.cal.office_time_on(rng, day), "rectified", note))
        if complaint is None and (
            self.irregularity == "complaint.unanswered"
            or rng.random() < _COMPLAINT_SHARE.get(self.kind, 0.0)
        ):
            complaint = rng.choice(_CASE_COMPLAINTS)
        if complaint is not None:
            day = self.cal.add_workdays(at.date(), rng.randint(0, 3))
            moment = max(self.cal.office_time_on(rng, day), at + self.minutes(10, 120))
            at = story.add(
                "complained", moment, {"text": complaint}, by_applicant=True, at_window=False
            )
            if self.irregularity != "complaint.unanswered":
                day = self.cal.add_workdays(at.date(), rng.randint(1, 10))
                follow.append((self.cal.office_time_on(rng, day), "complaint_answered", None))
        for when, kind, payload in sorted(follow, key=lambda entry: entry[0]):
            story.add(kind, when, payload)


def _step(step: str) -> dict[str, Any]:
    return {"step": step, "outcome": "pass"}


def _num(value: float) -> float:
    """Whole amounts as integers in JSON (80, not 80.0), as centers send them."""
    return int(value) if float(value).is_integer() else round(value, 2)
