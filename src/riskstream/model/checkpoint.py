"""Signed checkpoints: the pickled bytes kept in Redis carry an HMAC-SHA256 tag.

A checkpoint is pickle, and unpickling runs code the bytes name: anyone who can write to
Redis could otherwise make every worker run theirs. So every pickled blob is stored as
``MAGIC + tag + payload``, the tag an HMAC-SHA256 of the payload under the deployment's key
(``RISKSTREAM_CHECKPOINT_KEY``) and a context (what the blob is and which checkpoint version
it belongs to, so a blob cannot be moved to another field or version). ``unseal`` checks the
tag in constant time before anything is unpickled, and refuses an unsigned, truncated or
altered blob with a ``CheckpointError``. Pure: no I/O.

What this does not stop: a Redis writer putting back an older checkpoint, blob and meta
together, that was genuinely signed (a rollback). It stops forged and altered models.
"""

from __future__ import annotations

import hashlib
import hmac

from riskstream.errors import CheckpointError

MAGIC = b"RSCK1"  # format and version of a signed blob
TAG_BYTES = hashlib.sha256().digest_size
UPGRADE_HINT = (
    "if nothing but riskstream writes this Redis, sign it once with `riskstream checkpoint "
    "sign`; else delete it and the learner starts afresh"
)


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose (checkpoints, forwarded requests) from the deployment's secret,
    so no two uses share a key.

    >>> derive_key(b"k", "checkpoint") != derive_key(b"k", "forward")
    True
    """
    return hmac.new(secret, b"riskstream/" + purpose.encode(), hashlib.sha256).digest()


def _tag(key: bytes, context: str, payload: bytes) -> bytes:
    # the context's length first: no (context, payload) pair runs into another
    head = MAGIC + len(context).to_bytes(4, "big") + context.encode()
    return hmac.new(key, head + payload, hashlib.sha256).digest()


def is_sealed(blob: bytes) -> bool:
    """Whether a blob is in the signed format (signed well or not)."""
    return blob.startswith(MAGIC)


def seal(key: bytes, context: str, payload: bytes) -> bytes:
    """The payload as stored: signed for this context.

    >>> blob = seal(b"k", "model m-1", b"data")
    >>> unseal(b"k", "model m-1", blob)
    b'data'
    """
    return MAGIC + _tag(key, context, payload) + payload


def unseal(key: bytes, context: str, blob: bytes) -> bytes:
    """The payload of a sealed blob, checked before anyone unpickles it.

    ``context`` names the blob in the error (``model m-500``). Raises CheckpointError for a
    blob that is unsigned, truncated, altered, or signed with another key or context.

    >>> unseal(b"k", "model m-1", b"\\x80\\x05pickle")
    Traceback (most recent call last):
    ...
    riskstream.errors.CheckpointError: checkpoint model m-1 is not signed (written before \
signed checkpoints, or not by riskstream): refused; if nothing but riskstream writes this \
Redis, sign it once with `riskstream checkpoint sign`; else delete it and the learner starts \
afresh
    """
    if not is_sealed(blob):
        msg = (
            f"checkpoint {context} is not signed (written before signed checkpoints, or not "
            f"by riskstream): refused; {UPGRADE_HINT}"
        )
        raise CheckpointError(msg)
    tag, payload = blob[len(MAGIC) : len(MAGIC) + TAG_BYTES], blob[len(MAGIC) + TAG_BYTES :]
    if len(tag) != TAG_BYTES or not hmac.compare_digest(tag, _tag(key, context, payload)):
        msg = (
            f"checkpoint {context} has a wrong signature (altered or truncated in Redis, or "
            "signed with another RISKSTREAM_CHECKPOINT_KEY): refused"
        )
        raise CheckpointError(msg)
    return payload


def checkpoint_key(secret: bytes) -> bytes:
    """The key checkpoints are signed with, from the deployment's secret."""
    return derive_key(secret, "checkpoint")
