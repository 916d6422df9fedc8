"""The e-mail adapter: a support mailbox read over IMAP, answered over SMTP in the customer's
thread (issue 19).

Reading: :mod:`.parse` turns a raw RFC 5322 message into an :class:`.parse.InboundMail`
(MIME parts, Korean charsets, RFC 2047 headers, HTML to text, the quoted history and the
signature stripped, attachments noted) and :mod:`.loops` tells mail never to answer
(auto-replies, bounces, lists, our own). Transport: :mod:`.imap` (the mailbox: IDLE or polling,
UIDs, marked seen only once handled) and :mod:`.smtp` (sending, with STARTTLS/SSL and
authentication). Answering: :mod:`.compose` writes the answer as a mail in the customer's thread
(:func:`.compose.reply_to`) and names the thread a mail belongs to (:func:`.compose.thread_root`).
Wiring: :mod:`.app` (the adapter in ``ondo serve email``), :mod:`.sender` (the router's
sender, the outbox on a transient failure), :mod:`.identity` (addresses sealed into keys).
Helpers: :mod:`.charsets` (bytes and RFC 2047 words to text), :mod:`.quotes` (the new text).
"""

from adapters.email.app import EmailAdapter, build_email
from adapters.email.compose import message_id_for, reply_to, thread_root
from adapters.email.loops import REASONS, SenderRate, why_not_answer
from adapters.email.parse import Attachment, InboundMail, MailError, parse_mail

__all__ = [
    "REASONS",
    "Attachment",
    "EmailAdapter",
    "InboundMail",
    "MailError",
    "SenderRate",
    "build_email",
    "message_id_for",
    "parse_mail",
    "reply_to",
    "thread_root",
    "why_not_answer",
]
