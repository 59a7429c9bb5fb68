"""The worker's HTTP views for gateways and lenders (the contract's HTTP table)."""

from __future__ import annotations

import logging
import re
from typing import Any

import faust

from riskstream.agents.runtime import Runtime, now_ms
from riskstream.errors import CreditStoreError

log = logging.getLogger(__name__)
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
JSON = "application/json"


def register(app: faust.App, runtime: Runtime) -> None:
    """Attach the views to the app's web server."""

    @app.page("/v1/users/{user_id}/credit")  # type: ignore[untyped-decorator]  # faust is untyped
    async def user_credit(view: Any, request: Any, user_id: str) -> Any:
        """The user's credit line: the newest credit-limits message (a new user's starting line)."""
        if not _ID.fullmatch(user_id):
            return view.error(400, "user_id: must be 1-64 chars of A-Za-z0-9._:-")
        try:
            body = await runtime.credit_lines.message(user_id, now_ms())
        except CreditStoreError as exc:
            log.warning("GET credit of %s: %s", user_id, exc)
            return view.error(503, "the credit store is not reachable; retry")
        return view.bytes(body, content_type=JSON)
