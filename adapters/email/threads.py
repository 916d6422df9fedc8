"""An e-mail thread's headers kept in the store, so a reply after a restart still threads.

A reply needs the customer's latest Message-ID (In-Reply-To), the References chain and the
subject ("Re: <their subject>": some clients, Gmail among them, thread by subject too). The
adapter keeps them in memory for the conversations it read (:attr:`EmailCustomers.latest`)
and, for a restart or another replica, in the store's thread state (sealed at rest: a subject
and a display name are the customer's words), written by :func:`state_of` and read back by
:func:`mail_of_state`. A state that cannot be read (another version's, damaged) leaves the
thread's root standing in: the reply still lands in the thread, under a generic subject.
"""

from __future__ import annotations

import json
from typing import Any

from adapters.email.compose import MAX_REFERENCES
from adapters.email.identity import Thread
from adapters.email.parse import InboundMail

MAX_SUBJECT = 300
MAX_NAME = 120
MAX_ID = 1000


def state_of(mail: InboundMail) -> str:
    """What is kept of ``mail`` to answer in its thread later (JSON)."""
    references = list(mail.references)
    if mail.in_reply_to and mail.in_reply_to not in references:
        references.append(mail.in_reply_to)
    if len(references) > MAX_REFERENCES:
        references = references[:1] + references[-(MAX_REFERENCES - 1) :]
    return json.dumps(
        {
            "v": 1,
            "message_id": mail.message_id[:MAX_ID],
            "references": [r[:MAX_ID] for r in references],
            "subject": mail.subject[:MAX_SUBJECT],
            "from_name": mail.from_name[:MAX_NAME],
            "reply_to": mail.reply_to,
            "language": mail.language,
        },
        ensure_ascii=False,
    )


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def mail_of_state(thread: Thread, state: str | None) -> InboundMail:
    """The thread's latest mail as far as ``state`` tells it (the root alone without one)."""
    kept: dict[str, Any] = {}
    if state:
        try:
            loaded = json.loads(state)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict) and loaded.get("v") == 1:
            kept = loaded
    message_id = _text(kept.get("message_id"), MAX_ID) or thread.root
    references = kept.get("references")
    listed = references if isinstance(references, list) else []
    chain = tuple(r[:MAX_ID] for r in listed if isinstance(r, str))
    if thread.root not in chain and thread.root != message_id:
        chain = (thread.root, *chain)
    reply_to = _text(kept.get("reply_to"), MAX_ID)
    return InboundMail(
        message_id=message_id,
        in_reply_to=None,
        references=chain[-MAX_REFERENCES:],
        subject=_text(kept.get("subject"), MAX_SUBJECT) or "",
        from_address=thread.customer,
        from_name=_text(kept.get("from_name"), MAX_NAME) or "",
        to=(),
        cc=(),
        reply_to=reply_to,
        date=None,
        text="",
        full_text="",
        language="ko" if kept.get("language") == "ko" else "en",
        attachments=(),
        content_type="text/plain",
        auto_submitted=None,
        precedence=None,
        list_id=None,
        list_unsubscribe=None,
        return_path=None,
        auto_reply_headers=(),
        is_report=False,
        html_only=False,
        truncated=False,
    )
