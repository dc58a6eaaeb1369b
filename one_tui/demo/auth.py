"""The demo's accounts: passwords, tokens, and the token check of every request.

Exists so that how tokens are made (the same token on every login, deterministic from the
seed), revoked (the ``invalid_token`` fault) and checked (DRF's exact 403 texts) changes in one
place, apart from the login endpoint's form parsing (``demo/router.py``).
"""

from __future__ import annotations

import hashlib
import threading

from one_tui.demo.reply import detail

__all__ = ["Accounts"]


class Accounts:
    """Users and passwords, and their tokens (valid until :meth:`revoke`)."""

    def __init__(self, users: dict[str, str], seed: int) -> None:
        self.users = dict(users)
        self._seed = seed
        self._epoch = 0
        self._lock = threading.Lock()

    def token_for(self, username: str) -> str:
        """The user's current token (the same on every login until tokens are revoked)."""
        raw = f"{self._seed}:{username}:{self._epoch}".encode()
        return hashlib.sha1(raw).hexdigest()

    def revoke(self) -> None:
        """Invalidate every token issued so far ("Invalid token." until the client logs in)."""
        with self._lock:
            self._epoch += 1

    def user_of(self, token: str) -> str | None:
        for user in self.users:
            if self.token_for(user) == token:
                return user
        return None

    def check_password(self, username: str, password: str) -> bool:
        return self.users.get(username) == password

    def authenticate(self, authorization: str | None) -> str:
        """The user an ``Authorization`` header belongs to; DRF's 403 answer otherwise."""
        parts = (authorization or "").split()
        if not parts or parts[0].lower() != "token":
            raise detail(403, "Authentication credentials were not provided.")
        if len(parts) == 1:
            raise detail(403, "Invalid token header. No credentials provided.")
        if len(parts) > 2:
            raise detail(403, "Invalid token header. Token string should not contain spaces.")
        user = self.user_of(parts[1])
        if user is None:
            raise detail(403, "Invalid token.")
        return user
