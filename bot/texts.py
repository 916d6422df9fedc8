"""Fixed customer-facing sentences, in both languages.

Kept in one table so every language has every sentence; ``tests/test_texts.py`` checks that.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.types import Language

TEXTS: Mapping[str, Mapping[Language, str]] = {
    "opener.angry": {
        "ko": "불편을 드려 정말 죄송합니다.",
        "en": "I'm really sorry for the trouble this has caused.",
    },
    "opener.disappointed": {
        "ko": "기대하셨던 만큼 많이 아쉬우셨을 것 같아요.",
        "en": "I understand how disappointing this must be.",
    },
    "opener.positive": {
        "ko": "따뜻한 말씀 감사합니다!",
        "en": "Thank you, that's lovely to hear!",
    },
    "opener.neutral": {"ko": "", "en": ""},
    "closing.angry": {
        "ko": "해결되지 않으면 말씀해 주세요. 바로 상담원을 연결해 드릴게요.",
        "en": "If this doesn't solve it, tell me and I'll bring in a person right away.",
    },
    "closing.disappointed": {
        "ko": "끝까지 잘 해결될 수 있도록 도와드릴게요.",
        "en": "I'll make sure we get this sorted out for you.",
    },
    "closing.positive": {
        "ko": "더 궁금한 점이 있으면 언제든 물어봐 주세요.",
        "en": "Anything else I can help with, just ask.",
    },
    "closing.neutral": {
        "ko": "더 궁금한 점이 있으면 편하게 물어봐 주세요.",
        "en": "Let me know if there's anything else.",
    },
    "source": {"ko": "출처: {source}", "en": "Source: {source}"},
    "unsure": {
        "ko": "죄송하지만 그 질문에는 확실한 답을 드리기 어려워요. 상담원을 연결해 드릴까요?",
        "en": "I'm sorry, I'm not sure about that one. "
        "Would you like me to connect you to a person?",
    },
    "unsure.suggest": {
        "ko": '혹시 "{question}"에 대해 궁금하신 건가요?',
        "en": 'Did you perhaps mean "{question}"?',
    },
    "handoff.angry": {
        "ko": "담당 상담원에게 대화를 넘겼어요. 곧 사람이 직접 이 대화에서 답변드릴게요.",
        "en": "I've passed this conversation to a member of our team; a person will reply "
        "here shortly.",
    },
    "handoff.asked_for_human": {
        "ko": "네, 상담원을 연결해 드릴게요. 곧 담당자가 이 대화에서 직접 답변드립니다.",
        "en": "Of course, I'm connecting you to a person. An agent will reply here shortly.",
    },
    "handoff.no_answer": {
        "ko": "제가 정확히 도와드리지 못해 죄송해요. 상담원을 연결했으니 곧 사람이 답변드릴게요.",
        "en": "Sorry I couldn't help with that. I've connected you to a person, who will "
        "reply here shortly.",
    },
    "handoff.sensitive": {
        "ko": "중요한 문제라서 담당 상담원에게 바로 연결해 드렸어요. 곧 사람이 직접 답변드릴게요.",
        "en": "This is important, so I've passed it straight to a member of our team. A "
        "person will reply here shortly.",
    },
    "handoff.waiting": {
        "ko": "상담원에게 전달했어요. 조금만 기다려 주세요.",
        "en": "I've passed that on to the agent. Please hold on a moment.",
    },
    "resolved": {
        "ko": "상담원 상담이 끝났어요. 다시 온도 봇이 도와드릴게요. 더 궁금한 점이 있으신가요?",
        "en": "Your conversation with our agent has ended, and I'm back to help. Anything else?",
    },
    "empty": {
        "ko": "메시지가 비어 있는 것 같아요. 궁금한 점을 글로 적어 주시겠어요?",
        "en": "Your message seems to be empty. Could you type your question?",
    },
    "too_long": {
        "ko": "메시지가 너무 길어 앞부분만 읽었어요.",
        "en": "Your message was very long, so I read only the first part.",
    },
    "rating.not_yours": {
        "ko": "질문하신 분만 이 답변을 평가할 수 있어요.",
        "en": "Only the person who asked can rate this answer.",
    },
    "draft.greeting": {
        "ko": "안녕하세요, 고객님. 상담원입니다.",
        "en": "Hi, this is a member of the support team.",
    },
    "draft.order": {
        "ko": "주문번호 {order} 기준으로 확인하고 있습니다.",
        "en": "I'm checking order {order} for you.",
    },
    "draft.check": {
        "ko": "말씀하신 내용을 바로 확인해 보겠습니다.",
        "en": "I'm looking into this for you now.",
    },
    "staff.source": {"ko": "출처: {source}", "en": "Source: {source}"},
    "staff.other_language": {
        "ko": "(한국어 문서에는 없어 영어 문서에서 찾았어요.)",
        "en": "(Found only in the Korean handbook.)",
    },
    "staff.unsure": {
        "ko": "사내 지침에서 이 질문에 대한 답을 찾지 못했어요. {contact}에게 문의해 주세요.",
        "en": "The handbook has no answer to this. Please ask {contact}.",
    },
    "staff.contact": {"ko": "팀장님", "en": "your team lead"},
    "staff.empty": {
        "ko": "사내 지침에 대해 궁금한 점을 적어 주세요.",
        "en": "Ask me anything about the handbook.",
    },
    "withheld": {
        "ko": "죄송하지만 그 질문에는 확실한 답을 드리기 어려워요. 상담원을 연결해 드릴까요?",
        "en": "I'm sorry, I'm not sure about that one. "
        "Would you like me to connect you to a person?",
    },
    "review.thanks": {
        "ko": "소중한 후기 남겨 주셔서 감사합니다! 더 궁금한 점이 있으면 언제든 말씀해 주세요.",
        "en": "Thank you for your review! If there's anything else, just let me know.",
    },
    "review.sorry": {
        "ko": "솔직한 후기 감사합니다. 기대에 미치지 못해 정말 죄송합니다. "
        "상담원을 연결해 드릴까요?",
        "en": "Thank you for telling us, and I'm really sorry it fell short. "
        "Would you like me to connect you to a person?",
    },
    "draft.closing": {
        "ko": "확인되는 대로 이 대화에서 바로 안내해 드리겠습니다.",
        "en": "I'll update you right here as soon as I know more.",
    },
    "sms.stop": {
        "ko": "[{shop}] 문자 수신이 거부되었습니다. 다시 받으시려면 START라고 보내 주세요.",
        "en": "[{shop}] You are unsubscribed and will get no more texts. "
        "Reply START to resubscribe.",
    },
    "sms.start": {
        "ko": "[{shop}] 문자 수신이 다시 시작되었습니다. 그만 받으시려면 STOP이라고 보내 주세요.",
        "en": "[{shop}] You are resubscribed. Reply STOP to unsubscribe.",
    },
    "sms.help": {
        "ko": "[{shop}] 궁금한 점을 문자로 보내 주세요. "
        "수신을 원하지 않으시면 STOP이라고 보내 주세요.",
        "en": "[{shop}] Text us your question. Reply STOP to unsubscribe.",
    },
    "voice.greeting": {
        "ko": "안녕하세요, {shop}입니다. 무엇을 도와드릴까요? 상담원 연결은 0번을 눌러 주세요.",
        "en": "Hello, this is {shop}. How can I help you? To talk to a person, press 0.",
    },
    "voice.english": {
        "ko": "영어 안내는 1번을 눌러 주세요.",
        "en": "For English, press 1, or just speak English.",
    },
    "voice.recording": {
        "ko": "상담원과의 통화는 서비스 품질을 위해 녹음됩니다.",
        "en": "Calls with our agents are recorded for quality.",
    },
    "voice.prompt": {
        "ko": "무엇을 도와드릴까요?",
        "en": "How can I help you? To talk to a person, press 0.",
    },
    "voice.reprompt": {
        "ko": "말씀이 들리지 않았어요. 궁금하신 점을 말씀해 주세요.",
        "en": "Sorry, I didn't hear anything. Please tell me what you need.",
    },
    "voice.goodbye": {
        "ko": "말씀이 들리지 않아 통화를 마칠게요. 언제든 다시 전화 주세요. 감사합니다.",
        "en": "I can't hear you, so I'll end the call now. Please call again any time. Goodbye.",
    },
    "voice.transfer": {
        "ko": "상담원에게 연결해 드릴게요. 지금까지의 내용은 상담원에게 전달했어요. "
        "잠시만 기다려 주세요.",
        "en": "I'm connecting you to a person now. They have what we talked about. Please hold.",
    },
    "voice.hold": {"ko": "잠시만요.", "en": "One moment, please."},
    "voice.late": {
        "ko": "죄송해요, 답변이 늦어지고 있어요. 다시 한번 말씀해 주시겠어요?",
        "en": "Sorry, the answer is taking too long. Could you say that again?",
    },
    "voice.zero": {"ko": "(0번) 상담원 연결해 주세요", "en": "(pressed 0) connect me to an agent"},
    "voice.no_agent": {
        "ko": "지금은 상담원이 전화를 받을 수 없어요. 문자로 문의해 주시면 상담원이 답해 드릴게요. "
        "감사합니다.",
        "en": "No agent can take the call right now. Text us and an agent will answer you. "
        "Thank you.",
    },
    "voice.link": {
        "ko": "링크는 문자로 문의해 주시면 보내 드릴게요.",
        "en": "Text us and we'll send you the link.",
    },
}


def text(key: str, language: Language, **values: str) -> str:
    """The sentence ``key`` in ``language``, with ``{placeholders}`` filled."""
    template = TEXTS[key][language]
    return template.format(**values) if values else template


def shorten(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut at ``limit`` characters (the last one an ellipsis)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
