"""Settings as flags: each command offers the settings it reads, each showing its environment
variable in ``--help``; the rest still come from the environment, as always."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

import pydantic

from riskstream.config import SECRET_FIELDS, Settings
from riskstream.scoring import ruleset

# settings whose default --help must not show (a URL may hold a password)
SECRET_WORDS = ("url", "token", "key", "password", "secret")
SECRETS_EPILOG = (
    "Secrets are never flags (the arguments of a process show in `ps`): set "
    + ", ".join(f"RISKSTREAM_{name.upper()}" for name in SECRET_FIELDS)
    + " in the environment, or name a file holding one in RISKSTREAM_<NAME>_FILE."
)

# The settings each part reads, to compose a command's list from.
KAFKA = (
    "kafka_brokers",
    "kafka_security_protocol",
    "kafka_sasl_mechanism",
    "kafka_sasl_username",
    "kafka_ssl_cafile",
    "kafka_ssl_certfile",
    "kafka_ssl_keyfile",
    "topic_prefix",
)
TOPICS = ("partitions", "replication_factor", "min_insync_replicas")
REDIS = ("redis_mode", "redis_namespace")
CHECKPOINT = ("snapshot_ttl_s",)
# version 0 of the rules layer is these settings (scorer.env_rules): the rules message's
# fields that are also settings
RULES = tuple(name for name in ruleset.FIELDS if name in Settings.model_fields)
ALL = tuple(Settings.model_fields)


class UsageError(Exception):
    """A flag or setting is invalid: one line, exit 2."""


def add_settings(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """One option per setting named (secrets excepted), showing its environment variable."""
    group = parser.add_argument_group(
        "settings (each also read from its environment variable)", SECRETS_EPILOG
    )
    for name in names:
        if name in SECRET_FIELDS:
            continue
        field = Settings.model_fields[name]
        env = f"RISKSTREAM_{name.upper()}"
        shown = "***" if any(w in name for w in SECRET_WORDS) else field.default
        group.add_argument(
            f"--{name.replace('_', '-')}",
            dest=f"setting_{name}",
            metavar=env,
            default=None,
            help=f"{field.description} [env {env}; default {shown!s}]",
        )


def settings(args: argparse.Namespace) -> Settings:
    """The Settings: the environment, overridden by the flags given."""
    given = {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_") and value is not None
    }
    try:
        made = Settings(**given)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        msg = f"bad setting {where}: {first['msg']}"
        raise UsageError(msg) from None
    if made.challenger:  # a pipeline's name: checked here, config must not import model/
        from riskstream.model.candidates import MODELS

        if made.challenger not in MODELS:
            names = ", ".join(MODELS)
            msg = f"bad setting challenger: must be one of {names}, got {made.challenger!r}"
            raise UsageError(msg)
    return made
