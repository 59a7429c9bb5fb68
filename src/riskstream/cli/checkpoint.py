"""``riskstream checkpoint sign --sha256``: the one-time migration of a checkpoint written
before everything was signed, if its model is the one the operator expects."""

from __future__ import annotations

import argparse
import asyncio
import sys

from riskstream.cli.settings import CHECKPOINT, REDIS, add_settings
from riskstream.config import Settings


def add_arguments(
    parser: argparse.ArgumentParser, parser_class: type[argparse.ArgumentParser]
) -> None:
    sub = parser.add_subparsers(dest="action", required=True, parser_class=parser_class)
    sign = sub.add_parser(
        "sign",
        help="sign the checkpoint once, upgrading from a riskstream that signed less, only "
        "if its model is the one you expect (docs/deploy.md)",
    )
    sign.add_argument(
        "--sha256",
        required=True,
        help="the model pickle's sha256, from the learner's log line `checkpoint ... (model "
        "sha256 ...)` of a time you trust; another model is refused",
    )
    add_settings(sign, REDIS + CHECKPOINT)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from riskstream.state.client import connect
    from riskstream.state.model_store import ModelStore, checkpoint_keys

    async def sign() -> str | None:
        client = connect(settings.redis_url.get_secret_value(), settings.redis_mode)
        store = ModelStore(
            client, settings.redis_namespace, settings.snapshot_ttl_s, checkpoint_keys(settings)
        )
        try:
            return await store.sign_unsigned(args.sha256)
        finally:
            await client.aclose()

    if settings.checkpoint_key is None:
        print(
            "riskstream: signing with the development key (RISKSTREAM_CHECKPOINT_KEY unset)",
            file=sys.stderr,
        )
    version = asyncio.run(sign())
    print(f"signed checkpoint {version}" if version else "nothing unsigned: nothing to do")
    return 0
