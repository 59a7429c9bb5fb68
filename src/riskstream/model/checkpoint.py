"""Signed checkpoints: the pickled bytes kept in Redis carry an HMAC-SHA256 tag.

A checkpoint is pickle, and unpickling runs code the bytes name: anyone who can write to
Redis could otherwise make every worker run theirs. So every pickled blob is stored as
``MAGIC + tag + payload``, the tag an HMAC-SHA256 of the payload under the deployment's key
(``RISKSTREAM_CHECKPOINT_KEY``) and a context (what the blob is and which checkpoint version
it belongs to, so a blob cannot be moved to another field or version). ``unseal`` checks the
tag in constant time before anything is unpickled, and refuses an unsigned, truncated or
altered blob with a ``CheckpointError``. Pure: no I/O.

The same seal covers the other records a Redis writer must not forge: every field of the
checkpoint's meta (versions, pipelines, quality, cursor, the threshold policy's window and
trade-off) and the roles record. A signature is accepted under the current key or a
previous one (``Keys``: a key rotation); everything new is signed with the current one.

Even signed, a pickle is read by ``restricted_loads``, which builds only the classes a
model holds (River's, riskstream's model classes, a few builtins): a checkpoint naming
anything else (``os.system``, say) is refused, so a leaked key is not code execution.

What this does not stop: a Redis writer putting back an older checkpoint, blob and meta
together, that was genuinely signed (a rollback). It stops forged and altered models.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import pickle
from dataclasses import dataclass
from typing import Any

from riskstream.errors import CheckpointError

MAGIC = b"RSCK1"  # format and version of a signed blob
TAG_BYTES = hashlib.sha256().digest_size
UPGRADE_HINT = "delete it and the learner starts afresh from the training stream (docs/deploy.md)"
# What a checkpoint's pickles may name (found by loading every pipeline of model.candidates,
# trained: tests/unit/test_checkpoint_signing.py): classes of these packages, and these.
ALLOWED_PACKAGES = ("river.", "riskstream.model.")
ALLOWED_GLOBALS = frozenset(
    {
        ("builtins", "float"),
        ("builtins", "int"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("collections", "Counter"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("collections", "deque"),
        ("functools", "partial"),
        ("random", "Random"),
    }
)


@dataclass(frozen=True)
class Keys:
    """The key that signs, and the earlier keys a signature is still accepted under while a
    new key rolls out (``RISKSTREAM_CHECKPOINT_PREVIOUS_KEYS``, docs/deploy.md)."""

    signing: bytes
    previous: tuple[bytes, ...] = ()

    @property
    def accepted(self) -> tuple[bytes, ...]:
        """Every key a signature may be made with, the current one first."""
        return (self.signing, *self.previous)

    @classmethod
    def derived(cls, secret: bytes, previous: tuple[bytes, ...], purpose: str) -> Keys:
        """The keys of one purpose from the deployment's current and earlier secrets.

        >>> keys = Keys.derived(b"new", (b"old",), "checkpoint")
        >>> keys.accepted == (checkpoint_key(b"new"), checkpoint_key(b"old"))
        True
        """
        return cls(derive_key(secret, purpose), tuple(derive_key(p, purpose) for p in previous))


def _accepted(keys: Keys | bytes) -> tuple[bytes, ...]:
    return (keys,) if isinstance(keys, bytes) else keys.accepted


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


def unseal(keys: Keys | bytes, context: str, blob: bytes) -> bytes:
    """The payload of a sealed blob, checked before anyone unpickles it.

    ``context`` names the blob in the error (``model m-500``). Raises CheckpointError for a
    blob that is unsigned, truncated, altered, or signed with another key or context; a
    signature under any accepted key (``Keys``) is taken.

    >>> unseal(b"k", "model m-1", b"\\x80\\x05pickle")
    Traceback (most recent call last):
    ...
    riskstream.errors.CheckpointError: checkpoint model m-1 is not signed (written before \
signed checkpoints, or not by riskstream): refused; delete it and the learner starts afresh \
from the training stream (docs/deploy.md)
    """
    if not is_sealed(blob):
        msg = (
            f"checkpoint {context} is not signed (written before signed checkpoints, or not "
            f"by riskstream): refused; {UPGRADE_HINT}"
        )
        raise CheckpointError(msg)
    tag, payload = blob[len(MAGIC) : len(MAGIC) + TAG_BYTES], blob[len(MAGIC) + TAG_BYTES :]
    good = [hmac.compare_digest(tag, _tag(key, context, payload)) for key in _accepted(keys)]
    if len(tag) != TAG_BYTES or not any(good):
        msg = (
            f"checkpoint {context} has a wrong signature (altered or truncated in Redis, or "
            "signed with another RISKSTREAM_CHECKPOINT_KEY): refused"
        )
        raise CheckpointError(msg)
    return payload


def checkpoint_key(secret: bytes) -> bytes:
    """The key checkpoints are signed with, from the deployment's secret."""
    return derive_key(secret, "checkpoint")


class _ModelUnpickler(pickle.Unpickler):
    """Builds only what a model holds (``ALLOWED_PACKAGES``' classes, ``ALLOWED_GLOBALS``)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if "." not in name and f"{module}.".startswith(ALLOWED_PACKAGES):
            found = super().find_class(module, name)
            if isinstance(found, type):  # a class, never a function of the package
                return found
        msg = f"names {module}.{name}, which no model holds"
        raise pickle.UnpicklingError(msg)


def restricted_loads(context: str, payload: bytes) -> Any:
    """Unpickle a checkpoint's verified payload, building only the classes a model holds.

    >>> import os
    >>> restricted_loads("model m-1", pickle.dumps(os.system))
    Traceback (most recent call last):
    ...
    riskstream.errors.CheckpointError: checkpoint model m-1 names posix.system, which no model \
holds: refused
    """
    try:
        return _ModelUnpickler(io.BytesIO(payload)).load()
    except CheckpointError:
        raise
    except Exception as exc:  # UnpicklingError, or a class that refused its state
        msg = f"checkpoint {context} {exc}: refused"
        if not isinstance(exc, pickle.UnpicklingError) or "no model holds" not in str(exc):
            msg = f"checkpoint {context} cannot be read ({type(exc).__name__}: {exc}): refused"
        raise CheckpointError(msg) from None
