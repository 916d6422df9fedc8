"""The Slack adapter: Events API / Socket Mode in, ``chat.postMessage`` out (slack-bolt)."""

from adapters.slack.app import SlackAdapter, build_app, build_client
from adapters.slack.events import AgentMessage, CustomerMessage, parse_event

__all__ = [
    "AgentMessage",
    "CustomerMessage",
    "SlackAdapter",
    "build_app",
    "build_client",
    "parse_event",
]
