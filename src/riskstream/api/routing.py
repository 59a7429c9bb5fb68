"""Find the worker that owns a user's partition of ``payments`` and forward a request there.

Each user's state has a single writer: the worker the consumer group assigned the user's
partition of ``payments`` to. The partition is the one a producer keyed by user_id picks
(``streams.partitioning``, ``RISKSTREAM_PARTITIONER``); the owner's URL comes from Faust's
partition assignor, which carries every member's ``canonical_url`` (``http://WEB_HOST:
WEB_PORT``; ``RISKSTREAM_WEB_HOST`` sets the host the others reach this worker at).

Only to the group, and only signed: the URL is only ever one a member of the consumer group
advertised to the assignor (never anything from the request), and only a plain
``http(s)://host:port``; redirects are not followed. The client's ``Authorization`` stays
here: the forwarded request carries ``X-Riskstream-Forwarded``, a signature with the
workers' own key (``security.sign_forward``), which the owner checks. Joining the group is
what Kafka's ACLs guard (docs/deploy.md): a member that should not be one would still get
the forwarded bodies, but no token, could not replay them elsewhere, and could not answer:
the owner signs its answer (``X-Riskstream-Answer``), and an answer without a valid
signature is not passed on (``ForwardError``: 503 to the client).

A worker that gets a forwarded request for a partition it does not own (the group is
rebalancing) answers 503 with ``Retry-After`` instead of forwarding again, so a request
never loops, and the client retries.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from faust.types import TP

from riskstream.api.security import ANSWER, FORWARDED, json_error, sign_answer, sign_forward
from riskstream.config import Settings
from riskstream.errors import ForwardError
from riskstream.model.checkpoint import Keys
from riskstream.streams import topics
from riskstream.streams.partitioning import partition_for

log = logging.getLogger(__name__)
FORWARD_TIMEOUT_S = 2.0
RETRY = {"Retry-After": "1"}
_PASSED_HEADERS = ("Content-Type",)


def is_worker_url(url: str) -> bool:
    """Whether a URL from the assignor is a worker's base URL: http(s)://host:port and
    nothing else (no credentials, path, query or fragment to smuggle a request elsewhere).

    >>> is_worker_url("http://10.0.0.7:6066"), is_worker_url("http://w-1:6066/")
    (True, True)
    >>> is_worker_url("http://evil@10.0.0.7:6066"), is_worker_url("http://h:6066/x?y=1")
    (False, False)
    >>> is_worker_url("file:///etc/passwd"), is_worker_url("not a url")
    (False, False)
    """
    try:
        parsed = urlsplit(url)
        port = parsed.port
    except (TypeError, ValueError):
        return False
    return (
        parsed.scheme in ("http", "https")
        and bool(parsed.hostname)
        and port is not None
        and "@" not in parsed.netloc
        and parsed.path in ("", "/")
        and not parsed.query
        and not parsed.fragment
    )


@dataclass(frozen=True)
class Owner:
    """Where a user's payments are scored: the partition, and None (here) or the owner's URL."""

    partition: int
    url: str | None
    is_local: bool


class Owners:
    """The group's partition-to-worker map of ``payments``, as the assignor last told it."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.topic = settings.topic(topics.PAYMENTS)
        self._seen: object = None
        self._by_partition: dict[int, str] = {}

    def _urls(self) -> dict[int, str]:
        """Partition -> owner URL (the group members' own, as the assignor gave them out; not
        a worker's base URL: no owner); rebuilt only when the assignor has a new one."""
        metadata: Mapping[str, Mapping[str, Any]] = self.app.assignor.external_topics_metadata()
        if metadata is not self._seen:
            self._seen = metadata
            self._by_partition = {
                partition: url
                for url, by_topic in metadata.items()
                if is_worker_url(url)
                for partition in by_topic.get(self.topic, ())
            }
        return self._by_partition

    def is_assigned(self) -> bool:
        """The group has given out the partitions of ``payments`` (and is not rebalancing)."""
        return bool(self._urls()) and not self.app.rebalancing

    def of(self, user_id: str) -> Owner | None:
        """The owner of a user's partition; None while nobody owns it (rebalancing)."""
        urls = self._urls()
        count = max(max(urls, default=-1) + 1, self.settings.partitions)
        partition = partition_for(user_id.encode(), count, self.settings.partitioner)
        if TP(self.topic, partition) in self.app.consumer.assignment():
            return Owner(partition, None, True)
        url = urls.get(partition)
        if url is None or url.rstrip("/") == str(self.app.conf.canonical_url).rstrip("/"):
            return None
        return Owner(partition, url, False)


class Forwarder:
    """Forwards requests to other workers over keep-alive connections, kept idle for less
    than the other workers' idle timeout (so none is closed under a request being sent)."""

    def __init__(self, idle_timeout_s: float, keys: Keys | bytes) -> None:
        self.keepalive_s = idle_timeout_s / 2
        self.keys = Keys(keys) if isinstance(keys, bytes) else keys
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S),
                connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=self.keepalive_s),
            )
        return self._session

    async def forward(
        self, base_url: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes, str, dict[str, str]]:
        """(status, body, content type, its Retry-After header if any) of the same request
        sent to ``base_url``, signed by this worker instead of the client's token; a
        ForwardError when the answer is not signed by a worker."""
        sent = {h: headers[h] for h in _PASSED_HEADERS if h in headers}
        signature = sign_forward(self.keys.signing, "POST", path, body, int(time.time() * 1000))
        sent[FORWARDED] = signature
        url = base_url.rstrip("/") + path
        post = self._client().post(url, data=body, headers=sent, allow_redirects=False)
        async with post as response:
            answer = await response.read()
            given = response.headers.get(ANSWER, "").encode("utf-8", "surrogateescape")
            expected = [  # the owner may sign with the previous key, mid-rotation
                sign_answer(key, signature, response.status, answer).encode()
                for key in self.keys.accepted
            ]
            if not any([hmac.compare_digest(given, e) for e in expected]):
                msg = (
                    f"{base_url} answered {response.status} without a worker's signature "
                    "(not a riskstream worker, or another RISKSTREAM_CHECKPOINT_KEY)"
                )
                raise ForwardError(msg)
            retry = (
                {"Retry-After": response.headers["Retry-After"]}
                if "Retry-After" in response.headers
                else {}
            )
            return response.status, answer, response.content_type, retry

    async def close(self) -> None:
        """Close the connections (worker shutdown)."""
        if self._session is not None:
            await self._session.close()


async def pass_on(
    forwarder: Forwarder, owner: Owner, request: web.Request, body: bytes, txn_id: str
) -> web.Response:
    """The answer to a ``POST /v1/score`` whose user's partition another worker owns: the
    owner's answer; or 503 with Retry-After when the request was forwarded here already
    (ownership moved under the sender: never forwarded twice), when the owner does not
    answer in time, or when its answer is not signed by a worker."""
    if FORWARDED in request.headers:
        return json_error(503, "partition ownership is moving; retry", RETRY)
    assert owner.url is not None
    try:
        status, answer, ctype, retry_after = await forwarder.forward(
            owner.url, request.path, body, request.headers
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("forwarding %s to %s failed: %r", txn_id, owner.url, exc)
        return json_error(503, "the owning worker did not answer; retry", RETRY)
    except ForwardError as exc:
        log.warning("forwarding %s: %s", txn_id, exc)
        return json_error(503, "the owning worker's answer is not signed; retry", RETRY)
    ctype = ctype or "application/json"
    return web.Response(status=status, body=answer, content_type=ctype, headers=retry_after)
