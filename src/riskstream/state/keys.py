"""The Redis key schema: every key of one user shares the hash tag ``{u:USER_ID}``.

So one user's Lua step touches one slot and works on Redis Cluster; a merchant's keys share
``{m:MERCHANT_ID}``. Every key starts with the deployment's namespace.

>>> user_keys("rs:", "u-1", "t-9")[:2]
['rs:{u:u-1}:t:t-9', 'rs:{u:u-1}:pay']
"""

from __future__ import annotations


def _user(ns: str, user_id: str) -> str:
    return f"{ns}{{u:{user_id}}}"


def txn(ns: str, user_id: str, txn_id: str) -> str:
    """Hash: the feature snapshot (x) and the decision (d) of one payment."""
    return f"{_user(ns, user_id)}:t:{txn_id}"


def user_keys(ns: str, user_id: str, txn_id: str) -> list[str]:
    """The keys of user_features.lua, in its KEYS order."""
    u = _user(ns, user_id)
    return [txn(ns, user_id, txn_id), f"{u}:pay", f"{u}:stats", f"{u}:merchants",
            f"{u}:devices", f"{u}:countries", f"{u}:ips"]  # fmt: skip


def merchant_keys(ns: str, merchant_id: str, txn_id: str) -> list[str]:
    """The keys of merchant_features.lua, in its KEYS order."""
    m = f"{ns}{{m:{merchant_id}}}"
    return [f"{m}:t:{txn_id}", f"{m}:pay", f"{m}:users"]


def user_pattern(ns: str, user_id: str) -> str:
    """A SCAN pattern for every key of one user."""
    return f"{_user(ns, user_id)}*"
