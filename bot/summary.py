"""The extractive handoff summary an agent receives: enough to act without scrolling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.types import Emotion, EscalationReason, Language
from knowledge.entries import Entry

_LABELS: Mapping[Language, Mapping[str, str]] = {
    "ko": {
        "title": "상담원 연결 요청",
        "reason": "사유",
        "wants": "고객 요청",
        "intent": "의도",
        "emotion": "감정",
        "trend": "감정 변화",
        "answered": "봇의 마지막 답변",
        "recent": "최근 메시지",
        "steps": "권장 처리 단계",
        "customer": "고객",
        "bot": "봇",
        "agent": "상담원",
        "none": "없음",
    },
    "en": {
        "title": "Handoff request",
        "reason": "Reason",
        "wants": "Customer wants",
        "intent": "Intent",
        "emotion": "Emotion",
        "trend": "Emotion over the conversation",
        "answered": "Bot's last answer",
        "recent": "Recent messages",
        "steps": "Suggested steps",
        "customer": "customer",
        "bot": "bot",
        "agent": "agent",
        "none": "none",
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


def build_summary(
    *,
    language: Language,
    reason: EscalationReason,
    intent: str,
    emotion: Emotion,
    wants: str,
    history: Sequence[Line],
    entry: Entry | None,
    max_recent: int = 6,
) -> str:
    """Build the summary text. Everything passed in must already be redacted."""
    label = _LABELS[language]
    trend = [line.emotion for line in history if line.role == "customer" and line.emotion]
    last_bot = next((line.text for line in reversed(history) if line.role == "bot"), None)
    out = [
        f"[{label['title']}] {label['reason']}: {_REASONS[language][reason]}",
        f"{label['wants']}: {_clip(wants, 200)}",
        f"{label['intent']}: {intent} · {label['emotion']}: {emotion.label} ({emotion.score:.2f})",
    ]
    if len(set(trend)) > 1:
        out.append(f"{label['trend']}: {' → '.join(trend)}")
    out.append(f"{label['answered']}: {_clip(last_bot, 200) if last_bot else label['none']}")
    out.append(f"{label['recent']}:")
    for line in history[-max_recent:]:
        out.append(f"  - {label.get(line.role, line.role)}: {_clip(line.text, 160)}")
    if entry is not None and entry.agent_steps:
        out.append(f"{label['steps']} ({entry.id}):")
        out.extend(f"  {i}. {step}" for i, step in enumerate(entry.agent_steps, start=1))
    return "\n".join(out)


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
