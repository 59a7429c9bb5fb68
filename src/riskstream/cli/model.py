"""``riskstream model status|promote|rollback``: the champion and challenger, switched live.

The roles live in Redis (``{model}:roles``); every worker follows them on its next model
refresh (every 2 s), and the learner keeps training both, so a rollback brings back a model
that kept learning. A change is a compare-and-set: two operators at once cannot lose one.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
from typing import Any

import orjson

from riskstream.config import Settings
from riskstream.errors import ModelRolesError
from riskstream.model.roles import Roles
from riskstream.ops.metrics import ServedModel
from riskstream.state.client import connect
from riskstream.state.model_store import Heads, ModelStore, checkpoint_keys

ACTIONS = {
    "status": "the champion and challenger with their quality",
    "promote": "the challenger becomes the champion on every worker (within 2 s)",
    "rollback": "the champion before the last promotion comes back",
}
REFRESH_NOTE = "every worker follows at its next model refresh (within 2 s)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The model command's flags."""
    parser.add_argument(
        "action",
        choices=list(ACTIONS),
        help="; ".join(f"{a}: {text}" for a, text in ACTIONS.items()),
    )
    parser.add_argument("--json", action="store_true", help="status as one JSON object")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Do the action; an impossible one raises a one-line ``ModelRolesError`` (exit 1)."""
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    # one quick retry: an operator at a prompt should hear at once that Redis is down
    client = connect(
        settings.redis_url.get_secret_value(), settings.redis_mode, retries=1, timeout_s=3.0
    )
    key = checkpoint_keys(settings)
    store = ModelStore(client, settings.redis_namespace, settings.snapshot_ttl_s, key)
    try:
        heads = await store.heads()
        if args.action == "status":
            _print_status(heads, as_json=args.json)
            return 0
        if args.action == "promote":
            roles = await store.change_roles(lambda r: _promotable(r, heads).promote(), Roles())
            print(
                f"promoted {_named(roles.champion, heads)} to champion; "
                f"{roles.challenger} is the challenger now; {REFRESH_NOTE}"
            )
        else:
            roles = await store.change_roles(lambda r: r.rollback(), Roles())
            print(
                f"rolled back: {_named(roles.champion, heads)} is the champion again, "
                f"{roles.challenger} the challenger; {REFRESH_NOTE}"
            )
        return 0
    finally:
        await client.aclose()


def _promotable(roles: Roles, heads: Heads) -> Roles:
    """The roles, if their challenger has a checkpoint to decide with."""
    if roles.challenger is not None and roles.challenger not in heads.models:
        msg = f"the challenger {roles.challenger} has no checkpoint yet: let it learn first"
        raise ModelRolesError(msg)
    return roles


def _named(pipeline: str, heads: Heads) -> str:
    head = heads.models.get(pipeline)
    return f"{pipeline} ({head.version})" if head is not None else pipeline


def _print_status(heads: Heads, *, as_json: bool) -> None:
    roles = heads.roles or Roles()
    served = []
    for role, pipeline in (("champion", roles.champion), ("challenger", roles.challenger)):
        if pipeline is None:
            continue
        head = heads.models.get(pipeline)
        version, quality = (head.version, head.quality) if head else ("(none yet)", {})
        n = int(quality.get("labels", 0))
        served.append(ServedModel(role, pipeline, version, n, quality).figures())
    status: dict[str, Any] = {
        "recorded": heads.roles is not None,
        "models": served,
        "rollback_to": roles.previous[-1] if roles.previous else None,
        "changed_ts": roles.changed_ts or None,
    }
    if as_json:
        sys.stdout.write(orjson.dumps(status).decode() + "\n")
        return
    if heads.roles is None:
        print("no roles recorded yet (no learner has run): the default pipeline decides")
    print(
        f"{'role':<11}{'model':<19}{'version':<24}{'ROC AUC':>8}{'labels':>9}"
        f"{'decl.rate':>10}{'d.prec':>8}{'d.recall':>9}{'r.prec':>8}{'r.recall':>9}"
    )
    for m in served:
        print(
            f"{m['role']:<11}{m['model']:<19}{m['version']:<24}{_num(m['roc_auc'], 3):>8}"
            f"{int(m['evaluated']):>9}{_num(m['decline_rate'], 4):>10}"
            f"{_num(m['decline_precision'], 3):>8}{_num(m['decline_recall'], 3):>9}"
            f"{_num(m['review_precision'], 3):>8}{_num(m['review_recall'], 3):>9}"
        )
    if roles.challenger is None:
        print("no challenger: set RISKSTREAM_CHALLENGER on the workers (docs/model.md)")
    if roles.changed_ts:
        when = datetime.datetime.fromtimestamp(roles.changed_ts / 1000, datetime.UTC)
        print(f"roles changed {when:%Y-%m-%d %H:%M:%S} UTC", end="")
        print(f"; rollback brings back {status['rollback_to']}" if roles.previous else "")


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
