"""The e-mail adapter: a support mailbox read over IMAP, answered over SMTP in the customer's
thread (issue 19; being built).

Reading: :mod:`.parse` turns a raw RFC 5322 message into an :class:`.parse.InboundMail`
(MIME parts, Korean charsets, RFC 2047 headers, HTML to text, the quoted history and the
signature stripped, attachments noted) and :mod:`.loops` tells mail never to answer
(auto-replies, bounces, lists, our own). Transport: :mod:`.imap` (the mailbox: IDLE or polling,
UIDs, marked seen only once handled) and :mod:`.smtp` (sending, with STARTTLS/SSL and
authentication).
"""
