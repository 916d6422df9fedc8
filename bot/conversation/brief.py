"""The handoff summary an agent receives: enough to act on in one read, without scrolling.

:func:`gather_brief` collects what the summary is made of (all redacted): the reason, what
the customer wants, the emotion and how it moved over the whole conversation, order numbers
and other facts, what the bot already answered, the knowledge entry's steps for agents and how
similar past handoffs were resolved. :func:`render_summary` writes it in the customer's
language, with an optional line in the agents' language, around an LLM's prose when given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.conversation.facts import (
    Facts,
    Shift,
    emotion_path,
    extract_facts,
    without_file_lines,
)
from bot.conversation.past_handoffs import PastHandoff, customer_turns, similar_resolved
from bot.storage.interface import Store
from bot.texts import shorten
from bot.types import Emotion, EscalationReason, Language
from knowledge.entries import Entry

_LABELS: Mapping[Language, Mapping[str, str]] = {
    "ko": {
        "title": "상담원 연결 요청",
        "reason": "사유",
        "wants": "고객 요청",
        "summary": "요약",
        "intent": "의도",
        "emotion": "감정",
        "trend": "감정 변화",
        "turn": "{n}번째 메시지",
        "orders": "주문번호",
        "amounts": "금액",
        "dates": "날짜",
        "answered_entries": "봇이 이미 안내한 답변",
        "answered": "봇의 마지막 답변",
        "recent": "최근 메시지",
        "steps": "권장 처리 단계",
        "past": "비슷한 지난 상담의 처리",
        "past_item": "#{id}: {minutes} 만에 해결",
        "minutes": "{n}분",
        "hours": "{n}시간",
        "no_agent_lines": "상담원 메시지 없음",
        "customer": "고객",
        "bot": "봇",
        "agent": "상담원",
        "none": "없음",
        "agents_line": "[KO] ",
        "not_translated": "고객의 말은 위 원문 참고(오프라인에서는 기계 번역하지 않음)",
    },
    "en": {
        "title": "Handoff request",
        "reason": "Reason",
        "wants": "Customer wants",
        "summary": "Summary",
        "intent": "Intent",
        "emotion": "Emotion",
        "trend": "Emotion over the conversation",
        "turn": "message {n}",
        "orders": "Order numbers",
        "amounts": "Amounts",
        "dates": "Dates",
        "answered_entries": "Bot already answered from",
        "answered": "Bot's last answer",
        "recent": "Recent messages",
        "steps": "Suggested steps",
        "past": "How similar handoffs were resolved",
        "past_item": "#{id}: resolved in {minutes}",
        "minutes": "{n} min",
        "hours": "{n} h",
        "no_agent_lines": "no agent messages",
        "customer": "customer",
        "bot": "bot",
        "agent": "agent",
        "none": "none",
        "agents_line": "[EN] ",
        "not_translated": "the customer's own words are above, not machine-translated offline",
    },
}
_REASONS: Mapping[Language, Mapping[EscalationReason, str]] = {
    "ko": {
        "angry": "고객이 화가 났어요",
        "asked_for_human": "고객이 상담원을 요청했어요",
        "no_answer": "봇이 연속으로 답하지 못했어요",
        "sensitive": "민감한 사안(법적 조치·신고·지급정지 등)",
    },
    "en": {
        "angry": "the customer is angry",
        "asked_for_human": "the customer asked for a person",
        "no_answer": "the bot could not answer twice in a row",
        "sensitive": "a sensitive matter (legal, regulator, chargeback)",
    },
}


@dataclass(frozen=True)
class Line:
    """One redacted message of the conversation."""

    role: str
    text: str
    emotion: str | None = None


@dataclass(frozen=True)
class Brief:
    """Everything a handoff summary is made of; all text in it is already redacted."""

    language: Language
    reason: EscalationReason
    intent: str
    emotion: Emotion
    wants: str
    history: tuple[Line, ...]
    entry: Entry | None
    facts: Facts = field(default_factory=Facts)
    path: tuple[Shift, ...] | None = None
    """The emotion over the whole conversation; ``None``: taken from ``history``."""
    answered_entries: tuple[str, ...] = ()
    past: tuple[PastHandoff, ...] = ()


async def gather_brief(
    store: Store,
    key: str,
    *,
    language: Language,
    reason: EscalationReason,
    intent: str,
    emotion: Emotion,
    wants: str,
    history: Sequence[Line],
    entry: Entry | None,
) -> Brief:
    """The brief for conversation ``key``: the given parts plus what the store knows (every
    customer message since the context was cleared, resolved handoffs with ``intent``)."""
    turns = await customer_turns(store, key, language)
    past = await similar_resolved(store, intent, language=language) if intent != "other" else []
    answered: list[str] = []
    for turn in turns:
        if turn.entry_id and turn.entry_id not in answered:
            answered.append(turn.entry_id)
    return Brief(
        language=language,
        reason=reason,
        intent=intent,
        emotion=emotion,
        wants=wants,
        history=tuple(history),
        entry=entry,
        facts=extract_facts([*(t.text for t in turns), *(line.text for line in history)]),
        path=emotion_path([t.emotion for t in turns]),
        answered_entries=tuple(answered),
        past=tuple(past),
    )


def render_summary(
    brief: Brief,
    *,
    prose: str | None = None,
    agent_language: Language | None = None,
    max_recent: int = 6,
) -> str:
    """The summary text in the customer's language. With ``prose`` (an LLM's summary) it
    replaces the request, the bot's last answer and the recent messages; the facts, steps and
    past resolutions stay. With an ``agent_language`` other than the customer's, a last line
    says the essentials in the agents' language."""
    language = brief.language
    label = _LABELS[language]
    out = [f"[{label['title']}] {label['reason']}: {_REASONS[language][brief.reason]}"]
    if prose:
        out.append(f"{label['summary']}: {prose.strip()}")
    else:
        out.append(f"{label['wants']}: {shorten(without_file_lines(brief.wants), 200)}")
    emotion = brief.emotion
    out.append(
        f"{label['intent']}: {brief.intent} · {label['emotion']}: {emotion.label} "
        f"({emotion.score:.2f})"
    )
    path = _path(brief)
    if len(path) > 1:
        out.append(f"{label['trend']}: {_trend(path, language)}")
    facts = brief.facts
    if facts.order_numbers:
        out.append(f"{label['orders']}: {', '.join(facts.order_numbers)}")
    out.extend(shorten(line, 600) for line in facts.files)
    extras = [
        f"{label[name]}: {', '.join(values)}"
        for name, values in (("amounts", facts.amounts), ("dates", facts.dates))
        if values
    ]
    if extras:
        out.append(" · ".join(extras))
    if brief.answered_entries:
        out.append(f"{label['answered_entries']}: {', '.join(brief.answered_entries)}")
    if not prose:
        last_bot = next((line.text for line in reversed(brief.history) if line.role == "bot"), "")
        out.append(f"{label['answered']}: {shorten(last_bot, 200) if last_bot else label['none']}")
        out.append(f"{label['recent']}:")
        for line in brief.history[-max_recent:]:
            said = shorten(without_file_lines(line.text), 160)
            out.append(f"  - {label.get(line.role, line.role)}: {said}")
    entry = brief.entry
    if entry is not None and entry.agent_steps:
        out.append(f"{label['steps']} ({entry.id}):")
        out.extend(f"  {i}. {step}" for i, step in enumerate(entry.agent_steps, start=1))
    if brief.past:
        out.append(f"{label['past']} ({brief.intent}):")
        out.extend(f"  - {_past(item, language)}" for item in brief.past)
    if agent_language is not None and agent_language != language:
        out.append(agents_line(brief, agent_language))
    return "\n".join(out)


def agents_line(brief: Brief, language: Language) -> str:
    """One line for agents who read ``language``: reason, what the customer wants (the
    matched entry's question in that language; the customer's words are not translated),
    intent, emotion and its movement, order numbers."""
    label = _LABELS[language]
    entry = brief.entry
    questions = entry.questions.get(language) if entry is not None else None
    wants = f"{questions[0]} ({entry.id})" if questions and entry else label["not_translated"]
    parts = [
        f"{label['reason']}: {_REASONS[language][brief.reason]}",
        f"{label['wants']}: {wants}",
        f"{label['intent']}: {brief.intent}",
        f"{label['emotion']}: {' → '.join(s.label for s in _path(brief)) or brief.emotion.label}",
    ]
    if brief.facts.order_numbers:
        parts.append(f"{label['orders']}: {', '.join(brief.facts.order_numbers)}")
    return label["agents_line"] + " · ".join(parts)


def _path(brief: Brief) -> tuple[Shift, ...]:
    if brief.path is not None:
        return brief.path
    return emotion_path([line.emotion for line in brief.history if line.role == "customer"])


def _trend(path: Sequence[Shift], language: Language) -> str:
    turn = _LABELS[language]["turn"]
    first, *rest = path
    return " → ".join([first.label, *(f"{s.label} ({turn.format(n=s.turn)})" for s in rest)])


def _past(item: PastHandoff, language: Language) -> str:
    label = _LABELS[language]
    if item.minutes < 90:
        took = label["minutes"].format(n=max(1, round(item.minutes)))
    else:
        took = label["hours"].format(n=round(item.minutes / 60))
    lines = " / ".join(f'"{line}"' for line in item.agent_lines) or label["no_agent_lines"]
    return f"{label['past_item'].format(id=item.id, minutes=took)}: {lines}"
