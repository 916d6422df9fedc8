"""Who counts as an agent on Discord (for the ticket buttons and ticket-thread messages)."""

from __future__ import annotations

import discord


class StaffPolicy:
    """Decides whether a member may act as an agent.

    With ``ONDO_DISCORD_STAFF_ROLE`` set, exactly the members holding that role may. Without
    it, the fallback is the people a server already trusts with moderation: members who have
    Manage Threads or Manage Messages in the agents' channel (server administrators and the
    owner have every permission, so they count too). Users outside a guild never do.
    """

    def __init__(self, role_id: int | None) -> None:
        self.role_id = role_id

    @property
    def rule(self) -> str:
        """The rule in words, for log lines."""
        if self.role_id is not None:
            return f"needs the staff role {self.role_id}"
        return "needs Manage Threads or Manage Messages in the agents' channel"

    def allows(self, user: discord.Member | discord.User, permissions: discord.Permissions) -> bool:
        """Whether ``user``, with ``permissions`` in the agents' channel, is staff."""
        if not isinstance(user, discord.Member):
            return False
        if self.role_id is not None:
            return user.get_role(self.role_id) is not None
        return permissions.manage_threads or permissions.manage_messages
