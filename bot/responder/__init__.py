"""Reply generation: the LLM path and the offline composer behind one interface."""

from bot.responder.base import ReplyRequest, Responder, Turn

__all__ = ["ReplyRequest", "Responder", "Turn"]
