"""What the user-management methods of the 1.x clients return (the .NET client's
``UserDetails``, in snake_case)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class UserDetails:
    """One user account: login, full name, groups, whether it is disabled, and when it
    last changed (UTC; None if the server did not say)."""

    login_name: str
    full_name: str
    groups: tuple[str, ...]
    disabled: bool
    last_updated: datetime | None
