"""The journeys at work: events in, sends scheduled, and due sends decided against the store
as it stands at send time — the pure core (:mod:`bot.journeys.definitions`,
:mod:`bot.journeys.rules`, :mod:`bot.journeys.optout`) tied to ``store.journeys``.

Decisions the rest of Ondo relies on:

- **Which platform.** At send time, among the customer's linked identities that are not
  undeliverable: the one the customer last wrote to us from (where they are), else Slack, then
  Discord (links to other platforms are kept but not messaged yet). The DM goes to the outbox
  (``kind="dm"``, ``ref`` is ``journey:<send id>:<category>``, so the DM of a marketing
  message or a review request gets its opt-out button); the courier of the replica holding that
  platform posts it.
- **Which language.** The customer's stored language (their latest event), else ``ko``.
- **The message** is composed when it is sent, from the trigger event and the customer as they
  are then (a name corrected in between is used).
- **An exit that arrived first.** Events may come out of order: a send whose exit event is
  already stored (occurred after the trigger) is scheduled and cancelled at once, so the
  figures show it.
- **Consent from the shop.** An event of type :data:`CONSENT_EVENT` with payload
  ``{"category", "granted", "night"?, "evidence"?}`` records consent (source ``webhook``,
  at the event's time, never later than its arrival); a malformed one is an
  :class:`~bot.journeys.events.EventError` and nothing is stored.
- **A redelivery** (same ``event_id`` and content) re-runs only the idempotent part — exits
  and schedules by dedupe key — so a first delivery that died after storing the event is
  finished; the customer, links and consent are not written again. Another body under a known
  id changes nothing.
- **A late event** is not dropped: a send whose due time has passed is decided at the next
  ``run_due`` under the same rules (a batch replayed from the CLI runs end to end).
- **Reviews.** A customer's answer to a review request (the bot's last message in the
  conversation is that DM, sent at most
  :data:`~bot.journeys.reviews.REVIEW_WINDOW_SECONDS` ago, and no review answers it yet)
  that asks nothing (:func:`~bot.journeys.reviews.asks_something`) is stored as a review
  (source ``journey``, once per inbound message, redacted) with its stars and polarity, and
  thanked; an unhappy one is offered a person (see :mod:`bot.journeys.reviews`). The
  opt-out hook runs first: "stop" is never a review. A message its channel marked as
  feedback (``raw["feedback"]``: a feedback mail) that answers no request is stored the
  same way under :data:`FEEDBACK_SOURCE`, once per platform message id, with or without a
  linked customer, and answered the same way.
- **Opt-out.** "수신거부" / "stop" from a linked user records ``granted=False`` (source
  ``reply``, the message redacted as evidence) for marketing and review requests — what no
  customer is owed — and for the category of the last journey message they were sent if it was
  another (a "stop" under an order notice stops order notices); their pending sends of those
  categories are cancelled; the confirmation names each category. The opt-out button under
  a marketing or review-request DM does the same for that DM's category (source ``button``),
  once however often it is clicked.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.conversation.direct import journey_ref
from bot.conversation.routing import ReviewAnswer
from bot.journeys.definitions import (
    CATEGORIES,
    Category,
    Journey,
    JourneyError,
    Journeys,
    load_journeys,
)
from bot.journeys.events import CustomerRef, Event, EventError
from bot.journeys.optout import opt_out_confirmation, opt_out_request
from bot.journeys.reviews import (
    REVIEW_WINDOW_SECONDS,
    Polarity,
    asks_something,
    has_words,
    parse_rating,
    read_review,
)
from bot.journeys.rules import (
    QuietHours,
    SendContext,
    compose_message,
    customer_zone,
    decide,
)
from bot.settings import Settings, SettingsError
from bot.storage.interface import Store
from bot.storage.journey_records import Customer, JourneyEvent, ScheduledSend
from bot.storage.records import Post
from bot.types import Emotion, Language, Message
from bot.understanding.privacy import redact
from knowledge.language import detect_language

log = logging.getLogger("ondo.journeys")

CONSENT_EVENT = "consent.updated"
"""The event type by which the shop reports a consent given or withdrawn on its side."""
PLATFORM_ORDER = ("slack", "discord")
"""The platforms a DM can go to, in the order tried when the customer has written from none of
their identities (other links, a phone or an e-mail, are kept for channels to come)."""
REVIEW_SOURCE = "journey"
"""The ``source`` of the reviews stored from answers to review requests."""
FEEDBACK_SOURCE = "email"
"""The ``source`` of the reviews stored from feedback mail (a review or a compliment that
came as a mail of its own; ``ref`` is its Message-ID)."""
REVIEW_CATEGORY: Category = "review_request"
PolarityOf = Callable[[str, Language], str]
"""The review polarity detector (``bot.insights.polarity.ReviewPolarity().polarity``, wired by
``bot/serve.py``): ``positive``, ``negative`` or ``neutral``."""
OPT_OUT_CATEGORIES: tuple[Category, ...] = ("marketing", "review_request")
"""What a "stop" always opts out of: the messages no customer is owed."""
_POLARITIES: tuple[Polarity, ...] = ("positive", "negative", "neutral")
_LIVE = ("pending", "sending")
_BATCH = 50
_MAX_BATCHES = 20


@dataclass(frozen=True)
class Ingested:
    """What :meth:`JourneyService.ingest` did with one event."""

    duplicate: bool
    scheduled: int = 0
    cancelled: int = 0


class JourneyService:
    """The journeys of one shop over one store, on a clock that tests control."""

    def __init__(
        self,
        store: Store,
        journeys: Journeys,
        *,
        shop_name: str,
        quiet_hours: QuietHours,
        clock: Callable[[], float] = time.time,
        polarity: PolarityOf | None = None,
    ) -> None:
        """``polarity``: how reviews' text is read (without one, their stars alone say it)."""
        self.store = store
        self.polarity = polarity
        self.journeys = journeys
        self.shop_name = shop_name
        self.quiet_hours = quiet_hours
        self.clock = clock

    @classmethod
    def from_settings(
        cls,
        store: Store,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        polarity: PolarityOf | None = None,
    ) -> JourneyService:
        """The service for ``settings`` (``ONDO_JOURNEYS``, ``ONDO_SHOP_NAME``,
        ``ONDO_QUIET_HOURS``). A journey file that cannot be used is a
        :class:`~bot.settings.SettingsError` with one line naming the file and the journey."""
        try:
            journeys = load_journeys(settings.journeys_path)
            quiet = QuietHours.parse(settings.quiet_hours)
        except JourneyError as exc:
            raise SettingsError(f"ONDO_JOURNEYS: {exc}") from None
        except ValueError as exc:
            raise SettingsError(f"ONDO_QUIET_HOURS: {exc}") from None
        return cls(
            store,
            journeys,
            shop_name=settings.shop_name,
            quiet_hours=quiet,
            clock=clock,
            polarity=polarity,
        )

    # --- events in -----------------------------------------------------------------------

    async def ingest(self, event: Event) -> Ingested:
        """Record ``event`` durably (before returning), describe and link its customer,
        cancel the pending sends it exits and schedule the journeys it starts. An
        ``event_id`` seen before changes nothing (``duplicate=True``); a type no journey uses
        is stored and starts nothing. A redelivery (same id and content) only finishes what
        a first delivery that died after storing the event left undone. Raises
        :class:`EventError` for a malformed consent event and
        :class:`~bot.storage.journey_records.JourneyStoreError` for a value the store
        refuses."""
        consent = _consent_payload(event) if event.type == CONSENT_EVENT else None
        now = self.clock()
        store = self.store.journeys
        customer = event.customer
        fresh = await store.record_event(
            event.event_id,
            event.type,
            event.occurred_at,
            customer.customer_id,
            event.payload,
            received_at=now,
        )
        if not fresh:
            stored = await store.event(event.event_id)
            if stored is None or not _same(stored, event):
                return Ingested(duplicate=True)
            # A true redelivery: the first one may have died after storing the event. Exits
            # and schedules are idempotent (dedupe keys), so finishing them changes nothing
            # when the first delivery completed.
            cancelled, scheduled = await self._journeys_for(event, now)
            return Ingested(duplicate=True, scheduled=scheduled, cancelled=cancelled)
        await store.upsert_customer(
            customer.customer_id,
            name=customer.name,
            language=customer.language,
            time_zone=customer.time_zone,
            tier=customer.tier,
            at=now,
        )
        for platform, user in customer.identities.items():
            await store.link(customer.customer_id, platform, user, at=now)
        if consent is not None:
            category, granted, night, evidence = consent
            await store.set_consent(
                customer.customer_id,
                category,
                granted=granted,
                night=night,
                source="webhook",
                evidence=evidence or f"event {event.event_id}",
                # Never later than now: a future-dated event must not outrank a later opt-out.
                at=min(event.occurred_at, now),
            )
            if not granted:
                await store.cancel_pending(
                    customer.customer_id, category=category, reason="consent withdrawn"
                )
        cancelled, scheduled = await self._journeys_for(event, now)
        return Ingested(duplicate=False, scheduled=scheduled, cancelled=cancelled)

    async def _journeys_for(self, event: Event, now: float) -> tuple[int, int]:
        """Cancel what ``event`` exits and schedule what it starts: (cancelled, scheduled)."""
        store = self.store.journeys
        customer = event.customer
        cancelled = await self._exit(event)
        scheduled = 0
        for journey in self.journeys.triggered_by(event):
            send_id = await store.schedule(
                journey.name,
                customer.customer_id,
                category=journey.category,
                dedupe_key=journey.dedupe_key(event),
                due_at=journey.due_at(event),
                trigger_event_id=event.event_id,
                match_value=_match_value(journey, event),
                language=customer.language,
                at=now,
            )
            if send_id is None:
                continue
            scheduled += 1
            if await self._exited_already(journey, event):
                await store.cancel(send_id, "exit")
                cancelled += 1
        return cancelled, scheduled

    async def _exit(self, event: Event) -> int:
        """Cancel the customer's live sends whose journey ``event`` exits."""
        if event.type not in self.journeys.exit_types:
            return 0
        store = self.store.journeys
        cancelled = 0
        for send in await store.sends(event.customer.customer_id):
            journey = self.journeys.get(send.journey)
            if send.state not in _LIVE or journey is None or send.trigger_event_id is None:
                continue
            trigger = await self._event(send.trigger_event_id)
            if trigger is not None and journey.exits(trigger, event):
                cancelled += await store.cancel(send.id, "exit")
        return cancelled

    async def _exited_already(self, journey: Journey, event: Event) -> bool:
        """Whether an exit event of ``journey`` for ``event`` was stored before it arrived."""
        types = {rule.type for rule in journey.exit_on}
        if not types:
            return False
        stored = await self.store.journeys.events(
            event.customer.customer_id, since=event.occurred_at
        )
        for later in stored:
            if later.type in types and journey.exits(event, _as_event(later, event.customer)):
                return True
        return False

    async def _event(self, event_id: str) -> Event | None:
        """A stored event as an :class:`Event`, its customer as stored now."""
        stored = await self.store.journeys.event(event_id)
        if stored is None:
            return None
        customer = await self.store.journeys.customer(stored.customer_id)
        return _as_event(stored, _customer_ref(customer, stored.customer_id))

    # --- due sends -----------------------------------------------------------------------

    async def run_due(self, replica: str | None, limit: int = 50) -> int:
        """Claim the sends due now (up to ``limit``) and decide each against the store as it
        is now: sent (queued in the outbox in the same transaction), deferred or suppressed.
        How many were decided. The store hands out one send per customer at a time (so caps
        are not raced), so batches are taken until none is left due."""
        now = self.clock()
        decided = 0
        for _ in range(max(0, limit)):  # bounded: each round decides or finds nothing
            if decided >= limit:
                break
            batch = await self.store.journeys.take_due(now, replica, limit - decided)
            if not batch:
                break
            for send in batch:
                try:
                    if await self._decide(send, now):
                        decided += 1
                except Exception as exc:
                    # Left claimed: taken again after the lease, given up as stuck if it
                    # keeps failing; the other sends of the batch go on.
                    log.warning("journey send %s not decided: %s", send.id, _one_line(exc))
        return decided

    async def _decide(self, send: ScheduledSend, now: float) -> bool:
        store = self.store.journeys
        journey = self.journeys.get(send.journey)
        if journey is None:
            return await store.finish(send.id, "cancelled", "journey removed")
        trigger = await self._event(send.trigger_event_id) if send.trigger_event_id else None
        customer = await store.customer(send.customer_id)
        if trigger is None or customer is None:
            return await store.finish(send.id, "cancelled", "event forgotten")
        attention = await store.attention(_all(customer))
        target = _target(customer, attention.last_seen)
        ctx = await self._context(journey, send, customer, now)
        ctx = dataclasses.replace(
            ctx,
            handoff_open=attention.handoff_open,
            human_active=attention.human_active,
            last_anger_at=attention.last_anger_at,
            deliverable=target is not None,
        )
        decision = decide(ctx)
        if decision.action == "defer" and decision.until is not None:
            return await store.defer(send.id, decision.until, decision.reason or "quiet_hours")
        if decision.action == "suppress" or target is None:
            return await store.finish(send.id, "suppressed", decision.reason or "undeliverable")
        language = _language(customer.language)
        try:
            text = compose_message(journey, trigger, language, self.shop_name)
        except JourneyError as exc:
            log.warning("journey send %s not composed: %s", send.id, exc)
            return await store.finish(send.id, "suppressed", "template")
        platform, user = target
        ref = journey_ref(send.id, journey.category)
        post = Post(platform, "dm", user, text, ref, None, language)
        return await store.finish(send.id, "sent", None, now, post=post)

    async def _context(
        self, journey: Journey, send: ScheduledSend, customer: Customer, now: float
    ) -> SendContext:
        """A send's context with its consent, caps and zone read now (the conversation facts
        are added by the caller)."""
        store = self.store.journeys
        consent: dict[Category, bool | None] = {}
        night = False
        for category in CATEGORIES:
            entry = await store.consent(send.customer_id, category)
            consent[category] = None if entry is None else entry.granted
            if category == journey.category and entry is not None:
                night = entry.granted and entry.night
        since = now - max((cap.window for cap in journey.caps), default=0.0)
        journey_sends: Sequence[float] = ()
        category_sends: Sequence[float] = ()
        if any(cap.scope == "journey" for cap in journey.caps):
            journey_sends = await store.sent_times(
                send.customer_id, since=since, journey=journey.name
            )
        if any(cap.scope == "category" for cap in journey.caps):
            category_sends = await store.sent_times(
                send.customer_id, since=since, category=journey.category
            )
        return SendContext.for_journey(
            journey,
            now,
            consent=consent,
            night_consent=night,
            journey_sends=journey_sends,
            category_sends=category_sends,
            time_zone=customer.time_zone,
            quiet_hours=self.quiet_hours,
        )

    # --- opt-out -------------------------------------------------------------------------

    async def opt_out(self, platform: str, user: str, text: str, language: str) -> str | None:
        """If ``text`` asks to stop journey messages and ``user`` on ``platform`` is linked to
        a customer: record the opt-out (with the redacted message as evidence), cancel their
        pending sends of those categories and return the confirmation in ``language``;
        otherwise ``None`` (the bot answers the message as usual)."""
        lang = _language(language)
        if not opt_out_request(text, lang):
            return None
        store = self.store.journeys
        customer_id = await store.customer_for(platform, user)
        if customer_id is None:
            return None
        now = self.clock()
        last = _last_sent(await store.sends(customer_id))
        categories: list[Category] = [last] if last is not None else []
        categories += [c for c in OPT_OUT_CATEGORIES if c not in categories]
        said = redact(text[:1000].replace("\x00", ""), lang)
        evidence = f"{platform[:50]} reply: {said}"
        for category in categories:
            await store.set_consent(
                customer_id, category, granted=False, source="reply", evidence=evidence, at=now
            )
            await store.cancel_pending(customer_id, category=category, reason="opted out")
        day = datetime.fromtimestamp(now, customer_zone(await self._zone(customer_id))).date()
        return "\n".join(opt_out_confirmation(c, lang, self.shop_name, day) for c in categories)

    async def opt_out_category(
        self, platform: str, user: str, category: str, language: str
    ) -> str | None:
        """The opt-out button under a journey DM (the adapter checked that ``user`` is the
        DM's recipient): record ``granted=False`` for ``category`` (source ``button``), cancel
        the pending sends of it and return the confirmation in ``language``. A second click
        records nothing more (the ledger keeps one change) and confirms again. ``None`` when
        ``user`` is no linked customer or ``category`` has no button (nothing recorded)."""
        if category not in OPT_OUT_CATEGORIES:
            return None
        lang = _language(language)
        store = self.store.journeys
        customer_id = await store.customer_for(platform, user)
        if customer_id is None:
            return None
        chosen = _category(category)
        now = self.clock()
        # Two quick clicks (or replicas) decide one after the other: one consent change.
        async with self.store.conversation_lock(f"journeys:consent:{customer_id}"):
            current = await store.consent(customer_id, chosen)
            if current is None or current.granted:
                await store.set_consent(
                    customer_id,
                    chosen,
                    granted=False,
                    source="button",
                    evidence=f"{platform[:50]} button under a {chosen} message",
                    at=now,
                )
            await store.cancel_pending(customer_id, category=chosen, reason="opted out")
        day = datetime.fromtimestamp(now, customer_zone(await self._zone(customer_id))).date()
        return opt_out_confirmation(chosen, lang, self.shop_name, day)

    async def _zone(self, customer_id: str) -> str | None:
        customer = await self.store.journeys.customer(customer_id)
        return customer.time_zone if customer else None

    # --- reviews -------------------------------------------------------------------------

    async def review(self, message: Message, inbound_id: int) -> ReviewAnswer | None:
        """If ``message`` (recorded as ``inbound_id``) answers a review request and asks
        nothing, or is feedback its channel marked (``raw["feedback"]``, a feedback mail):
        store it as a review (once: a redelivery finds it stored) and return the bot's answer
        in the customer's language; otherwise ``None`` (the bot answers it)."""
        answer = await self._journey_review(message, inbound_id)
        if answer is None and message.raw.get("feedback") is True:
            return await self._feedback_review(message)
        return answer

    async def _feedback_review(self, message: Message) -> ReviewAnswer | None:
        """Store a feedback message as a review of source :data:`FEEDBACK_SOURCE`, by its
        platform message id (a redelivery stores nothing new), and answer it."""
        if not message.message_id:
            return None
        language = _language(str(message.raw.get("language") or detect_language(message.text)))
        said = redact(message.text[:20_000].replace("\x00", ""), language)
        if parse_rating(said) is None and not has_words(said):
            return None
        store = self.store
        reading = read_review(said, await self._polarity(said, language))
        stored = await store.reviews.record_review(
            FEEDBACK_SOURCE,
            message.message_id,
            polarity=reading.polarity,
            text=said,
            customer_id=await store.journeys.customer_for(message.platform, message.user),
            platform=message.platform,
            conversation_key=message.conversation_key,
            language=language,
            rating=reading.rating,
            at=self.clock(),
        )
        if stored is None:
            return None
        log.info("review %d stored from %s feedback", stored, message.platform)
        return ReviewAnswer(
            reading.reply(language), Emotion(reading.emotion, 1.0), offers_person=reading.unhappy
        )

    async def _journey_review(self, message: Message, inbound_id: int) -> ReviewAnswer | None:
        """:meth:`review` for an answer to a journey's review request."""
        text = message.text
        language = _language(detect_language(text))
        store = self.store
        customer_id = await store.journeys.customer_for(message.platform, message.user)
        if customer_id is None:
            return None
        send = await self._review_request(customer_id, message, inbound_id)
        if send is None:
            return None
        ref = f"inbound:{inbound_id}"
        answered = await store.reviews.review_for_send(send.id)
        if answered is not None and answered.ref != ref:
            return None  # answered already: this one is a message like any other
        if answered is None and asks_something(text):
            return None
        said = redact(text[:20_000].replace("\x00", ""), language)
        if parse_rating(said) is None and not has_words(said):
            return None  # nothing to review (empty, emoji alone): the bot answers it
        reading = read_review(said, await self._polarity(said, language))
        stored = await store.reviews.record_review(
            REVIEW_SOURCE,
            ref,
            polarity=reading.polarity,
            text=said,
            customer_id=customer_id,
            platform=message.platform,
            conversation_key=message.conversation_key,
            send_id=send.id,
            language=language,
            rating=reading.rating,
            at=self.clock(),
        )
        if stored is None:
            return None  # another message answered it meanwhile
        if answered is None:
            log.info("review %d stored for journey send %d", stored, send.id)
        return ReviewAnswer(
            reading.reply(language), Emotion(reading.emotion, 1.0), offers_person=reading.unhappy
        )

    async def _review_request(
        self, customer_id: str, message: Message, inbound_id: int
    ) -> ScheduledSend | None:
        """The review request ``message`` answers: one of the customer's sent within the
        window that is the bot's last message before ``inbound_id`` in the conversation (a DM
        is one conversation on Slack and Discord alike, so the request is in its history). A
        message elsewhere — a channel thread, another DM — answers no request."""
        now = self.clock()
        sends = await self.store.journeys.sends(customer_id)
        sent = [
            s
            for s in sends
            if s.category == REVIEW_CATEGORY
            and s.state == "sent"
            and s.sent_at is not None
            and now - REVIEW_WINDOW_SECONDS <= s.sent_at <= now + 60
        ]
        if not sent:
            return None
        history = await self.store.history(message.conversation_key, 6)
        before = [m for m in history if m.id < inbound_id]
        newest_first = sorted(sent, key=lambda s: (s.sent_at or 0.0, s.id), reverse=True)
        if not before or before[-1].role != "bot":
            return None
        last = before[-1].text
        return next((s for s in newest_first if s.text == last), None)

    async def _polarity(self, text: str, language: Language) -> Polarity | None:
        """The detector's polarity of ``text`` off the event loop (a model reads it), or
        ``None`` when it says nothing beyond stars or no detector is set."""
        if self.polarity is None or not has_words(text):
            return None
        found = await asyncio.to_thread(self.polarity, text, language)
        return next((p for p in _POLARITIES if p == found), "neutral")

    # --- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, replica: str | None, poll: float = 30.0) -> None:
        """Decide due sends every ``poll`` seconds until ``stop`` is set (``ondo serve``); a
        failure is one warning line and the loop goes on."""
        while not stop.is_set():
            try:
                for _ in range(_MAX_BATCHES):  # a backlog: the next batches at once
                    if await self.run_due(replica, _BATCH) < _BATCH or stop.is_set():
                        break
            except Exception as exc:  # the loop must outlive any one failure
                log.warning("journeys: due sends not decided: %s", _one_line(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll)


# --- helpers -----------------------------------------------------------------------------


def _consent_payload(event: Event) -> tuple[Category, bool, bool, str | None]:
    """The consent a :data:`CONSENT_EVENT` reports, or an :class:`EventError`."""
    payload = event.payload
    category = payload.get("category")
    if category not in CATEGORIES:
        raise EventError(f"payload.category: expected one of {', '.join(CATEGORIES)}")
    granted = payload.get("granted")
    if not isinstance(granted, bool):
        raise EventError("payload.granted: expected true or false")
    night = payload.get("night", False)
    if not isinstance(night, bool):
        raise EventError("payload.night: expected true or false")
    evidence = payload.get("evidence")
    if evidence is not None and (not isinstance(evidence, str) or len(evidence) > 1000):
        raise EventError("payload.evidence: expected text of at most 1000 characters")
    return _category(str(category)), granted, night, evidence


def _same(stored: JourneyEvent, event: Event) -> bool:
    """Whether a stored event is ``event`` again (a redelivery), not another under its id."""
    return (
        stored.type == event.type
        and stored.customer_id == event.customer.customer_id
        and stored.occurred_at == event.occurred_at
        and dict(stored.payload) == dict(event.payload)
    )


def _category(name: str) -> Category:
    return next((c for c in CATEGORIES if c == name), "marketing")


def _match_value(journey: Journey, event: Event) -> str | None:
    """The trigger's value of the journey's first exit ``match`` field (a cart id), stored
    with the send so figures can join it to the event that exits or converts it."""
    for rule in journey.exit_on:
        if rule.match is None:
            continue
        found, value = rule.match.resolve(event)
        if found and isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)[:200]
    return None


def _as_event(stored: JourneyEvent, customer: CustomerRef) -> Event:
    return Event(stored.event_id, stored.type, stored.occurred_at, customer, stored.payload)


def _customer_ref(customer: Customer | None, customer_id: str) -> CustomerRef:
    if customer is None:
        return CustomerRef(customer_id)
    language: Language | None = (
        "ko" if customer.language == "ko" else "en" if customer.language == "en" else None
    )
    return CustomerRef(
        customer_id,
        customer.name,
        language,
        customer.time_zone,
        customer.tier,
        {i.platform: i.user for i in customer.identities},
    )


def _all(customer: Customer) -> list[tuple[str, str]]:
    return [(i.platform, i.user) for i in customer.identities]


def _target(
    customer: Customer, last_seen: Mapping[tuple[str, str], float]
) -> tuple[str, str] | None:
    """Where the DM goes: a deliverable identity on a platform Ondo can DM
    (:data:`PLATFORM_ORDER`), the one last written from first, then in that order."""
    usable = [
        (i.platform, i.user)
        for i in customer.identities
        if i.undeliverable_at is None and i.platform in PLATFORM_ORDER
    ]
    if not usable:
        return None

    def rank(pair: tuple[str, str]) -> tuple[float, int, str, str]:
        order = PLATFORM_ORDER.index(pair[0]) if pair[0] in PLATFORM_ORDER else 99
        return (-last_seen.get(pair, float("-inf")), order, pair[0], pair[1])

    return min(usable, key=rank)


def _last_sent(sends: Sequence[ScheduledSend]) -> Category | None:
    """The category of the last journey message the customer was sent, if any."""
    sent = [s for s in sends if s.state == "sent" and s.category in CATEGORIES]
    if not sent:
        return None
    return _category(max(sent, key=lambda s: (s.sent_at or 0.0, s.id)).category)


def _language(value: str | None) -> Language:
    return "en" if value is not None and value.lower().startswith("en") else "ko"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
