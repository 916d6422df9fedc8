"""Reading the support mailbox over IMAP: new mail in UID order, marked only once handled.

The client is aioimaplib (asyncio, IMAP4rev1, kept up: 2.0 in 2025): it speaks IDLE, which
imap-tools (threads and polling) does not, and it runs on Ondo's event loop like every other
adapter. STARTTLS, which it lists but does not implement, is done here with the loop's
``start_tls`` on its transport.

Nothing lost, nothing twice:

- Mail is fetched with ``BODY.PEEK[]``: fetching never sets ``\\Seen``. Only
  :meth:`ImapMailbox.mark_handled`, which the caller calls once the answer or the ticket is
  recorded, sets ``\\Seen`` (or moves the mail to ``done_folder``).
- New mail is what is unseen with a UID above the highest this process yielded. A restart
  starts from zero again, so a mail yielded but never marked (a crash in between) is yielded
  again; the caller dedupes by Message-ID (and UID).
- A mail the caller could not handle now (its store down, say) is released
  (:meth:`ImapMailbox.release`): it is offered again after a pause that doubles on each
  failure (``RETRY_FIRST`` up to ``RETRY_MAX``), without a restart, while new mail keeps
  coming in between.
- The folder's UIDVALIDITY is remembered; when it changes, the UIDs mean other mail: the
  reader starts from zero (logged) and the caller's Message-ID dedupe keeps it answered once.
- A dropped connection is re-opened with a growing pause, one log line each time, no
  traceback; a refused login is not retried (:class:`MailboxLoginError`, one line).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import aioimaplib

from adapters.email.config import EmailConfig, ServerConfig

log = logging.getLogger("ondo.email")
# aioimaplib logs every line it sends and receives at DEBUG, the login's user name and the
# mail itself included: personal data, never to reach Ondo's logs.
logging.getLogger("aioimaplib").setLevel(logging.WARNING)

IDLE_SECONDS = 25 * 60.0
"""An IDLE is renewed before the 29 minutes servers may cut it after (RFC 2177)."""
FIRST_PAUSE = 1.0
MAX_PAUSE = 300.0
RETRY_FIRST = 30.0
RETRY_MAX = 15 * 60.0
"""A released mail is offered again after these pauses (doubling from the first)."""
MAX_BYTES = 25 * 1024 * 1024
"""Mail above this (most providers' own limit) is read as its header only."""

_T = TypeVar("_T")
_UIDVALIDITY_RE = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UID_RE = re.compile(rb"UID (\d+)")
_FLAGS_RE = re.compile(rb"FLAGS \(([^)]*)\)")
_SIZE_RE = re.compile(rb"RFC822\.SIZE (\d+)")


class MailboxError(ConnectionError):
    """The mailbox could not be read right now (retried); the message names no person."""


class MailboxLoginError(Exception):
    """The server refused the login: not retried, the message is one line for the operator."""


@dataclass(frozen=True)
class RawMail:
    """One message as the server holds it: parsed by :mod:`adapters.email.parse`."""

    uid: int
    uidvalidity: int
    raw: bytes = field(repr=False)
    flags: frozenset[str] = frozenset()
    size: int | None = None
    """The whole message's size on the server (``RFC822.SIZE``)."""
    truncated: bool = False
    """Larger than the reader's ``max_bytes``: ``raw`` holds the header only (the ticket
    says so; nothing of the body was read)."""


class Mailbox(Protocol):
    """What the next layer reads mail from: the real :class:`ImapMailbox` or
    :class:`MemoryMailbox` in tests."""

    def messages(self) -> AsyncIterator[RawMail]:
        """New mail, in UID order, for as long as the reader runs."""
        ...

    async def mark_handled(self, uid: int, uidvalidity: int | None = None) -> None:
        """Mark ``uid`` handled (``\\Seen``, or moved): call only once its answer is recorded."""
        ...

    async def release(self, uid: int, uidvalidity: int | None = None) -> None:
        """``uid`` could not be handled now: offer it again later (it stays unseen)."""
        ...

    async def close(self) -> None:
        """Log out and stop :meth:`messages`."""
        ...


Sleep = Callable[[float], Awaitable[None]]


class ImapMailbox:
    """The support mailbox on a real IMAP server (see the module's docstring)."""

    def __init__(
        self,
        server: ServerConfig,
        *,
        folder: str = "INBOX",
        done_folder: str | None = None,
        poll_seconds: float = 60.0,
        use_idle: bool = True,
        sleep: Sleep = asyncio.sleep,
        ssl_context: ssl.SSLContext | None = None,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.server = server
        self.folder = folder
        self.done_folder = done_folder
        self.poll_seconds = poll_seconds
        self.use_idle = use_idle
        self.sleep = sleep
        self.ssl_context = ssl_context
        self.max_bytes = max_bytes
        self.uidvalidity: int | None = None
        self.last_uid = 0
        """The highest UID yielded by this process (in this UIDVALIDITY)."""
        self.reconnects = 0
        self.retries: dict[int, int] = {}
        """Released mail of this UIDVALIDITY waiting to be offered again: UID -> failures."""
        self._retry_due = False
        self._waker: asyncio.Future[None] | None = None
        """The pause of the released mail (on :attr:`sleep`): when done, a retry is due."""
        self._client: aioimaplib.IMAP4 | None = None
        self._lost = asyncio.Event()
        self._closed = False

    @classmethod
    def from_config(cls, config: EmailConfig) -> ImapMailbox:
        """The reader of the configured mailbox."""
        return cls(
            config.imap,
            folder=config.folder,
            done_folder=config.done_folder,
            poll_seconds=config.poll_seconds,
        )

    async def messages(self) -> AsyncIterator[RawMail]:
        """New mail, in UID order, until :meth:`close`; reconnects on a dropped connection."""
        try:
            async for mail in self._run():
                yield mail
        finally:  # also when the caller stops reading or is cancelled mid-command
            self._drop()

    async def _run(self) -> AsyncIterator[RawMail]:
        pause = FIRST_PAUSE
        while not self._closed:
            try:
                if self._client is None:
                    await self.connect()
                for uid in await self._due_retries():
                    mail = await self._fetch(uid)
                    if mail is None or r"\Seen" in mail.flags:
                        self.retries.pop(uid, None)  # handled or gone meanwhile
                    else:
                        yield mail
                uids = await self._new_uids()
                for uid in uids:
                    mail = await self._fetch(uid)
                    if mail is not None:
                        self.last_uid = max(self.last_uid, uid)
                        yield mail
                # Mail that arrived while these were handled was announced (EXISTS) in the
                # answer to another command, never again in IDLE: search again first.
                if not uids:
                    await self._wait_for_mail()
                # Only a connection that lasted a whole round resets the pause: a server
                # that drops every session right after login is not hammered.
                pause = FIRST_PAUSE
            except MailboxLoginError:
                self._drop()
                raise
            except (OSError, TimeoutError, aioimaplib.AioImapException, MailboxError) as exc:
                self._drop()
                if self._closed:
                    return
                self.reconnects += 1
                log.warning(
                    "IMAP mailbox unreachable (%s); reconnecting in %gs", _describe(exc), pause
                )
                await self.sleep(pause)
                pause = min(MAX_PAUSE, pause * 2)

    async def connect(self) -> None:
        """Connect, secure, log in and select the folder (remembering its UIDVALIDITY)."""
        # One event per connection: a late loss report of the old one must not fail the new.
        lost = self._lost = asyncio.Event()
        server = self.server
        if server.security == "ssl":
            client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                server.host, server.port, timeout=server.timeout, ssl_context=self._context()
            )
        else:
            client = aioimaplib.IMAP4(server.host, server.port, timeout=server.timeout)
        client.protocol.conn_lost_cb = lambda _exc: lost.set()
        self._client = client
        await client.wait_hello_from_server()
        if server.security == "starttls":
            await self._starttls(client)
        response = await self._call(client.login(server.user, server.password))
        if response.result != "OK":
            raise MailboxLoginError(
                f"the IMAP server {server.host} refused the login of ONDO_EMAIL_IMAP_USER "
                "(check ONDO_EMAIL_IMAP_PASSWORD: with 2-step verification, an app password; "
                "and that IMAP is enabled in the mailbox's settings)"
            )
        await self._select(client)
        log.info("IMAP mailbox %s on %s open", self.folder, server.host)

    @property
    def encrypted(self) -> bool:
        """Whether the open connection runs over TLS (``ssl``, or after ``STARTTLS``)."""
        client = self._client
        transport = client.protocol.transport if client is not None else None
        return transport is not None and transport.get_extra_info("ssl_object") is not None

    async def mark_handled(self, uid: int, uidvalidity: int | None = None) -> None:
        """Set ``\\Seen`` on ``uid`` (or move it to ``done_folder``). A mail of another
        UIDVALIDITY is left alone: it comes again, and the caller's dedupe knows it.

        Call it between two reads of :meth:`messages` (one connection: not while another task
        waits in it). Raises :class:`MailboxError` when the server cannot be reached: the mail
        stays unseen and comes again after a restart."""
        # Twice at most: the connection may have dropped since the mail was read (marking
        # again is harmless: the flag is set, or the UID is gone from the folder).
        for attempt in (1, 2):
            try:
                if self._client is None or self._lost.is_set():
                    self._drop()
                    await self.connect()
                client = self._connected()
                if uidvalidity is not None and uidvalidity != self.uidvalidity:
                    log.info("IMAP mail %d is of an older UIDVALIDITY; not marked", uid)
                    return
                store = client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Seen)")
                await self._ok(store, "STORE")
                if self.done_folder:
                    await self._move(client, uid, self.done_folder)
                self.retries.pop(uid, None)
                return
            except MailboxLoginError:
                raise
            except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
                self._drop()
                if attempt == 2:
                    raise MailboxError(_describe(exc)) from None

    async def release(self, uid: int, uidvalidity: int | None = None) -> None:
        """Offer ``uid`` again after a pause (see the module): its answer or ticket could not
        be recorded now. A mail of another UIDVALIDITY comes again by itself."""
        if uidvalidity is not None and uidvalidity != self.uidvalidity:
            return
        self.retries[uid] = self.retries.get(uid, 0) + 1

    def _retry_pause(self) -> float | None:
        if not self.retries:
            return None
        failures = min(self.retries.values())
        return min(RETRY_MAX, RETRY_FIRST * float(2 ** (failures - 1)))

    async def _due_retries(self) -> list[int]:
        """The released UIDs to offer now (after their pause); each is offered once per
        release: released again, it waits longer."""
        if not self._retry_due:
            return []
        self._retry_due = False
        return sorted(self.retries)

    async def close(self) -> None:
        """Log out; :meth:`messages` ends."""
        self._closed = True
        self._lost.set()
        if self._waker is not None:
            self._waker.cancel()
        client = self._client
        if client is not None:
            if client.has_pending_idle():
                client.idle_done()
            # Logging out of a dead connection: nothing to do.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.logout(), 5)
        self._drop()

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    async def _starttls(self, client: aioimaplib.IMAP4) -> None:
        protocol = client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise MailboxLoginError(
                f"the IMAP server {self.server.host} does not offer STARTTLS "
                "(set ONDO_EMAIL_IMAP_SECURITY=ssl and its port)"
            )
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        await self._ok(protocol.execute(command), "STARTTLS")
        loop = asyncio.get_running_loop()
        protocol.transport = await loop.start_tls(
            protocol.transport, protocol, self._context(), server_hostname=self.server.host
        )
        await self._call(protocol.capability())  # the capabilities change after TLS

    async def _select(self, client: aioimaplib.IMAP4) -> None:
        response = await self._ok(client.select(self.folder), "SELECT")
        validity = None
        for line in response.lines:
            match = _UIDVALIDITY_RE.search(bytes(line))
            if match:
                validity = int(match.group(1))
        if validity is None:
            raise MailboxError("the folder has no UIDVALIDITY")
        if self.uidvalidity is not None and validity != self.uidvalidity:
            log.warning("IMAP folder %s has a new UIDVALIDITY; reading it again", self.folder)
            self.last_uid = 0
            self.retries.clear()
        self.uidvalidity = validity

    async def _new_uids(self) -> list[int]:
        client = self._connected()
        # A session sees mail that arrived since its last command only after one that syncs
        # (the server then says EXISTS): SEARCH alone may not.
        await self._ok(client.noop(), "NOOP")
        response = await self._ok(
            client.uid_search("UNSEEN", "UID", f"{self.last_uid + 1}:*", charset=None), "SEARCH"
        )
        uids: set[int] = set()
        # aioimaplib strips "* SEARCH" from the untagged line; the last one is the OK's text.
        for line in response.lines[:-1]:
            words = bytes(line).split()
            if words and all(w.isdigit() or w == b"SEARCH" for w in words):
                uids.update(int(w) for w in words if w.isdigit())
        # "n:*" always matches the highest UID, even below n.
        return sorted(u for u in uids if u > self.last_uid)

    async def _fetch(self, uid: int) -> RawMail | None:
        client = self._connected()
        size_response = await self._ok(client.uid("fetch", str(uid), "(UID RFC822.SIZE)"), "FETCH")
        size = None
        for line in size_response.lines:
            found = _SIZE_RE.search(bytes(line))
            if found:
                size = int(found.group(1))
        if size is None:  # expunged in between
            return None
        truncated = size > self.max_bytes
        part = "BODY.PEEK[HEADER]" if truncated else "BODY.PEEK[]"
        response = await self._ok(client.uid("fetch", str(uid), f"(UID FLAGS {part})"), "FETCH")
        raw: bytes | None = None
        flags: frozenset[str] = frozenset()
        for line in response.lines:
            if isinstance(line, bytearray):
                raw = bytes(line)
            elif isinstance(line, bytes):
                uid_match, flag_match = _UID_RE.search(line), _FLAGS_RE.search(line)
                if uid_match and int(uid_match.group(1)) != uid:
                    continue
                if flag_match:
                    flags = frozenset(flag_match.group(1).decode("ascii", "replace").split())
        if raw is None:  # expunged in between
            return None
        if truncated:
            log.warning("IMAP mail %d is %d bytes; only its header was read", uid, size)
        assert self.uidvalidity is not None
        return RawMail(uid, self.uidvalidity, raw, flags, size=size, truncated=truncated)

    async def _wait_for_mail(self) -> None:
        """Wait for new mail (IDLE, or the poll interval) or for a released mail's pause,
        which runs on across these waits: steady new mail does not put a retry off."""
        client = self._connected()
        pause = self._retry_pause()
        if pause is not None and self._waker is None:
            self._waker = asyncio.ensure_future(self.sleep(pause))
        if self.use_idle and client.has_capability("IDLE"):
            await self._idle(client)
        else:
            await self._until_woken(self.sleep(self.poll_seconds))
        if self._waker is not None and self._waker.done():
            self._waker = None
            self._retry_due = True

    async def _until_woken(self, step: Awaitable[_T]) -> _T | None:
        """``step``'s result, or ``None`` (``step`` cancelled) when a retry is due first."""
        task = asyncio.ensure_future(step)
        waker = self._waker
        if waker is None:
            return await task
        both: set[asyncio.Future[Any]] = {task, waker}
        try:
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return None

    async def _idle(self, client: aioimaplib.IMAP4) -> None:
        idle = await self._call(client.idle_start(timeout=IDLE_SECONDS))
        if isinstance(idle, asyncio.Future):
            # Left unawaited when the wait below fails (a close, a drop): still retrieved.
            idle.add_done_callback(_retrieve)
        try:
            while True:
                push: Any = await self._until_woken(
                    self._call(client.wait_server_push(IDLE_SECONDS + 60))
                )
                if push is None or push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if any(b"EXISTS" in bytes(line) or b"RECENT" in bytes(line) for line in push):
                    break
        finally:
            if client.has_pending_idle() and not self._lost.is_set():
                client.idle_done()
        await self._call(idle)

    async def _move(self, client: aioimaplib.IMAP4, uid: int, folder: str) -> None:
        await self._call(client.create(folder))  # NO when it exists: fine
        if client.has_capability("MOVE"):
            await self._ok(client.uid("move", str(uid), folder), "MOVE")
            return
        await self._ok(client.uid("copy", str(uid), folder), "COPY")
        await self._ok(client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Deleted)"), "STORE")
        if client.has_capability("UIDPLUS"):
            await self._ok(client.uid("expunge", str(uid)), "EXPUNGE")
        else:
            await self._ok(client.expunge(), "EXPUNGE")

    def _connected(self) -> aioimaplib.IMAP4:
        if self._client is None:
            raise MailboxError("not connected")
        return self._client

    async def _call(self, step: Awaitable[_T]) -> _T:
        """``step``, bounded by the timeout, failing at once when the connection drops
        (aioimaplib's own commands would wait for an answer that never comes)."""
        task = asyncio.ensure_future(step)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait(
                {task, lost}, timeout=self._timeout(), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            lost.cancel()
        if task in done:
            return task.result()
        task.cancel()
        # A command cut off by close() may still end in aioimaplib's Abort: retrieved here,
        # it is not logged with a traceback as "Task exception was never retrieved".
        task.add_done_callback(_retrieve)
        if lost in done:
            raise MailboxError("connection closed")
        raise TimeoutError

    def _timeout(self) -> float:
        return (
            IDLE_SECONDS + 120
            if self._client and self._client.has_pending_idle()
            else (self.server.timeout)
        )

    async def _ok(self, step: Awaitable[Any], what: str) -> Any:
        response = await self._call(step)
        if response.result != "OK":
            raise MailboxError(f"{what} answered {response.result}")
        return response

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        connecting = client._client_task  # still connecting: cancelled, closes its socket
        if not connecting.done():
            connecting.cancel()
        transport = client.protocol.transport
        if transport is not None:
            transport.close()
        for task in list(client.tasks) + list(client.protocol.tasks):
            task.cancel()


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _describe(exc: BaseException) -> str:
    """A reason for a log line: the exception's kind and message, never mail content."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class MemoryMailbox:
    """A mailbox in memory with the :class:`Mailbox` interface: tests of the next layer put
    raw mail in with :meth:`deliver` and read what was marked in :attr:`handled`."""

    def __init__(self, uidvalidity: int = 1) -> None:
        self.uidvalidity = uidvalidity
        self.mails: dict[int, RawMail] = {}
        self.seen: set[int] = set()
        self.handled: list[int] = []
        self.released: list[int] = []
        self._again: set[int] = set()
        self._next_uid = 1
        self._last_yielded = 0
        self._arrived = asyncio.Event()
        self._closed = False

    def deliver(self, raw: bytes) -> int:
        """Put ``raw`` into the mailbox, unseen; its UID."""
        uid = self._next_uid
        self._next_uid += 1
        self.mails[uid] = RawMail(uid, self.uidvalidity, raw)
        self._arrived.set()
        return uid

    def retry_now(self) -> None:
        """The released mail's pause has passed: it comes again."""
        self._arrived.set()

    def restart(self) -> None:
        """As a new process would read it: unseen mail comes again."""
        self._again.clear()
        self._last_yielded = 0
        self._closed = False

    def renumber(self) -> None:
        """A new UIDVALIDITY: every mail gets a new UID (and comes again when unseen)."""
        self.uidvalidity += 1
        old, self.mails = self.mails, {}
        seen, self.seen = self.seen, set()
        self._next_uid, self._last_yielded = 1, 0
        for uid in sorted(old):
            new = self.deliver(old[uid].raw)
            if uid in seen:
                self.seen.add(new)

    async def messages(self) -> AsyncIterator[RawMail]:
        """Unseen mail above the last yielded UID, waiting for more until :meth:`close`."""
        while not self._closed:
            self._arrived.clear()
            again, self._again = sorted(self._again - self.seen), set()
            for uid in again:
                yield RawMail(uid, self.uidvalidity, self.mails[uid].raw, frozenset())
            for uid in sorted(self.mails):
                if uid > self._last_yielded and uid not in self.seen:
                    self._last_yielded = uid
                    mail = self.mails[uid]
                    yield RawMail(uid, self.uidvalidity, mail.raw, frozenset())
            if self._closed:
                return
            await self._arrived.wait()

    async def mark_handled(self, uid: int, uidvalidity: int | None = None) -> None:
        """Mark ``uid`` seen (ignored for another UIDVALIDITY, as the real one does)."""
        if uidvalidity is not None and uidvalidity != self.uidvalidity:
            return
        self.seen.add(uid)
        self.handled.append(uid)

    async def release(self, uid: int, uidvalidity: int | None = None) -> None:
        """Offer ``uid`` again once :meth:`retry_now` is called (the real one waits)."""
        if uidvalidity is not None and uidvalidity != self.uidvalidity:
            return
        self.released.append(uid)
        self._again.add(uid)

    async def close(self) -> None:
        """Stop :meth:`messages`."""
        self._closed = True
        self._arrived.set()
