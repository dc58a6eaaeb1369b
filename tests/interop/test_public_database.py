"""The public database one-tui offers before any set-up is ONE-api's own default (URL, login,
cache folder), so opening it leaves ~/.one as ONE's setup would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from one_tui.engine import PUBLIC_URL, PUBLIC_USER, params

ONE_DEFAULTS = """
import one.params as p
d = p.default()
emit({'url': d.ALYX_URL, 'login': d.ALYX_LOGIN, 'cache': str(p.CACHE_DIR_DEFAULT)})
"""


@pytest.mark.parametrize("version", ["2.11.2", "3.6.1"])
def test_the_offered_public_database_is_one_apis_default(version: str, oracle: Any,
                                                         tmp_path: Path, home: Path) -> None:
    got = oracle(version, ONE_DEFAULTS, home=tmp_path)
    assert got["url"] == PUBLIC_URL
    assert got["login"] in (PUBLIC_USER, "")  # 3.6.1 leaves it empty and asks
    assert params.default_cache_dir(PUBLIC_URL) == Path(home) / "Downloads" / "ONE" / \
        params.client_key(got["url"])
    assert got["cache"] == str(tmp_path / "Downloads" / "ONE")
