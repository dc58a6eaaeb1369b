"""Who one-tui is on one Alyx database and the token that proves it, kept as ONE keeps it.

ONE's rules: a token saved in ``~/.one`` is reused with no request; a password given is a
login (a saved token never stands in for it); a token Alyx rejects is dropped and the login
done once more. The password stays in this object's memory only (name-mangled, never in a
repr, message, log or file), to log in again when Alyx rejects a token. Apart from the client
because the token format and storage change with ONE, not with how requests are sent.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import httpx

from one_tui.engine import params
from one_tui.engine.core.bounded import LIMITS, Limits, loads
from one_tui.engine.core.errors import AlyxError, AuthenticationError, HTTPError, LoginRequired
from one_tui.engine.core.spec import one_line, shown
from one_tui.engine.remote.bounded_get import bounded_request
from one_tui.engine.remote.failures import bad_url, error_detail, unreachable
from one_tui.engine.remote.urls import AlyxUrls

__all__ = ["Credentials"]

#: What a token can be to go in a header: visible ASCII (Alyx's are 40 hex digits)
_TOKEN = re.compile(r"[!-~]+")

_logger = logging.getLogger("one_tui.engine.remote.client")


class Credentials:
    """User, token and (in memory) password of one database; logs in over ``http``."""

    def __init__(
        self,
        urls: AlyxUrls,
        http: httpx.Client,
        settings: params.Settings | None,
        *,
        username: str | None,
        password: str | None,
        token: str | None,
        cache_dir: Path,
        note: Callable[[str], None],
        limits: Limits = LIMITS,
    ) -> None:
        self.urls = urls
        self.http = http
        self.settings = settings
        self.user: str | None = username or (settings.username if settings else None)
        self.__password = password
        self.token: str | None = token
        # a password given to the constructor is checked by the first request (ONE logs in
        # at construction): until then, neither a saved token nor a cached answer stands for it
        self.force_login = password is not None and token is None
        self.cache_dir = cache_dir
        self._note = note
        self.limits = limits
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Credentials({self.urls.base!r}, user={self.user!r})"

    @property
    def needs_login(self) -> bool:
        """The next request will log in first (no token yet, or a password to check)."""
        return not self.token or self.force_login

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header of the token held (none before a login). A token that
        cannot be a header value (a newline pasted into ~/.one) is dropped and said as what it
        is: httpx's refusal read as "cannot connect", which sent users to their firewall."""
        if not self.token:
            return {}
        if not _TOKEN.fullmatch(self.token):
            where = self.settings.params_file if self.settings is not None else "~/.one"
            bad = next(c for c in self.token if not _TOKEN.fullmatch(c))
            self.token = None
            raise LoginRequired(f"The token of {self.user or '?'} for {self.urls.base} in {where} "
                                f"holds '{shown(bad)}', which no HTTP header can carry; log in "
                                "again (the password is asked) to replace it")
        return {"Authorization": f"Token {self.token}"}

    def password(self) -> str | None:
        """The password to log in with: the one given, else ``ALYX_PWD`` (as ONE reads it)."""
        if self.__password:
            return self.__password
        return self.settings.password if self.settings else None

    def authenticate(
        self, username: str | None = None, password: str | None = None, force: bool = False
    ) -> None:
        """Log in as ONE does: a cached token is reused with no request, else POST /auth-token."""
        with self._lock:
            username = username or self.user
            if password is not None:
                self.__password = password
                force = True
            # A password given to the constructor is a login too (ONE logs in at once): never
            # let a saved token stand in for it, or a wrong password would seem to work.
            force = force or self.force_login
            if not username:
                raise LoginRequired(
                    f"No Alyx username for {self.urls.base}; log in with a username and password"
                )
            self.user = username
            if not force:
                cached = self.settings.token_for(username) if self.settings else None
                if cached:
                    self.token = cached
                    self.force_login = False
                    return
            self._login(username)

    def _login(self, username: str) -> None:
        password = self.password()
        if not password:
            self._check_reachable()  # "login needed" only when a password could help
            raise LoginRequired(f"Alyx at {self.urls.base} needs the password of {username}")
        try:
            rep = bounded_request(self.http, "POST", self.urls.join("auth-token"), "/auth-token",
                                  self.limits, data={"username": username, "password": password})
        except httpx.TransportError:
            raise unreachable(self.urls.base) from None
        except httpx.InvalidURL as exc:
            raise bad_url(self.urls.join("auth-token"), exc) from None
        if rep.status_code == 400:
            raise AuthenticationError(
                400,
                "/auth-token",
                f"Alyx authentication failed with credentials: user = {username}, password = ****",
            )
        if rep.status_code != 200:
            raise HTTPError(rep.status_code, "/auth-token", error_detail(rep))
        try:
            token = loads(rep.content, self.limits.max_depth)["token"]
            if not isinstance(token, str) or not _TOKEN.fullmatch(token):
                raise TypeError("not a token")
        except (ValueError, KeyError, TypeError):
            raise AlyxError(f"Alyx at {self.urls.base} sent no token on login") from None
        self.token = token
        self.force_login = False
        try:
            params.save_login(self.urls.base, username, token, self.cache_dir)
            self.settings = params.get_settings(self.urls.base)
        except (OSError, params.ParamsError) as exc:
            self._note(f"Logged in, but the token could not be saved in ~/.one: {one_line(exc)}")
        _logger.info("Connected to %s as %s", self.urls.base, username)

    def _check_reachable(self) -> None:
        """Raise AlyxConnectionError when Alyx does not answer at all (any HTTP status will
        do): asking for a password that cannot help reported a server that was down as
        "login needed". One GET of the API root, only on the way to that error."""
        try:
            self.http.get(self.urls.join(""), follow_redirects=False)
        except httpx.TransportError:
            raise unreachable(self.urls.base) from None
        except httpx.InvalidURL as exc:
            raise bad_url(self.urls.base, exc) from None

    def logout(self) -> None:
        """Forget the token (in memory and in ~/.one) and the password."""
        with self._lock:
            if self.user:
                try:
                    params.clear_token(self.urls.base, self.user)
                    self.settings = params.get_settings(self.urls.base)
                except (OSError, params.ParamsError) as exc:
                    self._note(f"Could not remove the token from ~/.one: {one_line(exc)}")
            self.token = None
            self.__password = None

    def ensure(self) -> None:
        """Log in now if the next request would (no token yet, or a password to check)."""
        if not self.token or self.force_login:
            self.authenticate(force=self.force_login)

    def relogin_after_invalid_token(self) -> None:
        """Alyx said "Invalid token.": drop it and log in again once (needs the password)."""
        with self._lock:
            if self.user:
                with suppress(OSError, params.ParamsError):  # the login below still runs
                    params.clear_token(self.urls.base, self.user)
                    self.settings = params.get_settings(self.urls.base)
            self.token = None
            if not self.password():
                raise LoginRequired(f"Alyx at {self.urls.base} rejected the saved token of "
                                    f"{self.user}; log in again")
            self.authenticate(force=True)
