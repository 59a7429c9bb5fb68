"""Champion and challenger: which named pipeline decides, which one scores in shadow.

Pure: no I/O. The roles live in one small Redis record (``state.model_store``) that every
worker reads on its model refresh, so ``riskstream model promote`` and ``rollback`` switch
every worker without a restart. The learner trains both pipelines on the same labels; a
version names the pipeline and the labels it has learned, so a decision names the model that
made it, whatever its role.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import orjson

from riskstream.errors import ModelRolesError
from riskstream.model.candidates import MODELS

DEFAULT_PIPELINE = "default"


def version_name(pipeline: str, n_labels: int) -> str:
    """A checkpoint's version: ``m-<labels>`` for the default pipeline (as before there was
    a challenger), ``m-<pipeline>-<labels>`` for any other.

    >>> version_name("default", 1200), version_name("undersample", 1200)
    ('m-1200', 'm-undersample-1200')
    """
    if pipeline == DEFAULT_PIPELINE:
        return f"m-{n_labels}"
    return f"m-{pipeline}-{n_labels}"


@dataclass(frozen=True)
class Roles:
    """The champion (decides), the challenger (learns and scores in shadow, or None), and
    the champions it replaced, newest last (what ``rollback`` brings back)."""

    champion: str = DEFAULT_PIPELINE
    challenger: str | None = None
    previous: tuple[str, ...] = ()
    changed_ts: int = 0  # epoch ms of the last change (0: as first recorded)

    @property
    def pipelines(self) -> tuple[str, ...]:
        """The pipelines the learner trains: the champion, then the challenger if any."""
        return (self.champion,) if self.challenger is None else (self.champion, self.challenger)

    def promote(self) -> Roles:
        """The challenger becomes the champion; the champion stays on as the challenger (it
        keeps learning, so a rollback brings it back warm).

        >>> Roles("default", "undersample").promote()
        Roles(champion='undersample', challenger='default', previous=('default',), changed_ts=0)
        >>> Roles("default").promote()
        Traceback (most recent call last):
        ...
        riskstream.errors.ModelRolesError: no challenger to promote (set RISKSTREAM_CHALLENGER)
        """
        if self.challenger is None:
            msg = "no challenger to promote (set RISKSTREAM_CHALLENGER)"
            raise ModelRolesError(msg)
        return dataclasses.replace(
            self,
            champion=self.challenger,
            challenger=self.champion,
            previous=(*self.previous, self.champion),
        )

    def rollback(self) -> Roles:
        """The champion before the last promotion comes back; this one is the challenger.

        >>> Roles("default", "undersample").promote().rollback()
        Roles(champion='default', challenger='undersample', previous=(), changed_ts=0)
        >>> Roles("default", "undersample").rollback()
        Traceback (most recent call last):
        ...
        riskstream.errors.ModelRolesError: nothing to roll back: default is the first champion
        """
        if not self.previous:
            msg = f"nothing to roll back: {self.champion} is the first champion"
            raise ModelRolesError(msg)
        back = self.previous[-1]
        if back != self.challenger:  # a hand-written record: the learner no longer trains it
            msg = f"cannot roll back to {back}: it is not the challenger the learner trains"
            raise ModelRolesError(msg)
        return dataclasses.replace(
            self, champion=back, challenger=self.champion, previous=self.previous[:-1]
        )

    def challenged_by(self, setting: str) -> Roles:
        """The roles once the learner's ``RISKSTREAM_CHALLENGER`` is applied: the setting
        names the challenger, unless it names the champion (after a promotion, the former
        champion stays on as challenger); empty means none. A new challenger starts a new
        history: the champions before it are no longer trained, so there is no rollback.

        >>> r = Roles("default", "undersample").promote()
        >>> r.challenged_by("undersample") == r
        True
        >>> r.challenged_by("forest")
        Roles(champion='undersample', challenger='forest', previous=(), changed_ts=0)
        >>> Roles("default", "undersample").challenged_by("")
        Roles(champion='default', challenger=None, previous=(), changed_ts=0)
        """
        if setting == self.champion:
            return self
        challenger = setting or None
        if challenger == self.challenger:
            return self
        return dataclasses.replace(self, challenger=challenger, previous=())

    def to_json(self) -> bytes:
        """The Redis record."""
        return orjson.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> Roles:
        """Read the Redis record; a broken one (not JSON, a name that is not a pipeline of
        ``model.candidates``, the same pipeline in both roles) is a ``ModelRolesError``.

        >>> Roles.from_json(Roles("forest", "default", ("default",)).to_json())
        Roles(champion='forest', challenger='default', previous=('default',), changed_ts=0)
        >>> Roles.from_json(b'{"champion": 3}')
        Traceback (most recent call last):
        ...
        riskstream.errors.ModelRolesError: the model roles record is invalid: {"champion": 3}
        """
        try:
            data = orjson.loads(raw)
            champion, challenger = data["champion"], data.get("challenger")
            previous, changed_ts = data.get("previous", []), data.get("changed_ts", 0)
            if not isinstance(previous, list) or not isinstance(changed_ts, int):
                raise TypeError
            names = [champion, *previous] + ([] if challenger is None else [challenger])
            if not all(isinstance(n, str) and n in MODELS for n in names):
                raise TypeError
            if challenger == champion:
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            shown = raw[:200].decode(errors="replace")
            msg = f"the model roles record is invalid: {shown}"
            raise ModelRolesError(msg) from None
        return cls(champion, challenger, tuple(previous), changed_ts)
