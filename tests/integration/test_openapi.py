"""schemathesis against a live worker's /openapi.json (acceptance 3 of issue 4): for every
operation, generated requests (valid and invalid) never get a 5xx and every answer matches
the document (status code, content type, body schema). Bounded for CI: MAX_EXAMPLES each."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from riskstream.config import Settings

from .conftest import WorkerProcess, wait_for
from .test_gateway import LOCAL, READY_S, ready, url

MAX_EXAMPLES = 40
WITH_INPUT = {
    "/v1/score", "/v1/users/{user_id}/credit", "/v1/users/{user_id}/features", "/v1/reviews",
    "/v1/reviews/{txn_id}", "/v1/reviews/{txn_id}/claim",
}  # fmt: skip
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_every_operation_matches_the_document(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker(RISKSTREAM_WEB_HOST=LOCAL)
    wait_for(lambda: ready(worker), READY_S, "the worker ready")
    schema = schemathesis.openapi.from_url(url(worker, "/openapi.json"))
    base = url(worker, "")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/v1/score", "/v1/users/{user_id}/features", "/review", "/v1/reviews",
        "/v1/reviews/{txn_id}", "/v1/reviews/{txn_id}/claim",
    }  # fmt: skip
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    for operation, mode in itertools.product(operations, modes):
        if mode is schemathesis.GenerationMode.NEGATIVE and operation.path not in WITH_INPUT:
            continue  # nothing to make invalid

        @hypothesis.given(case=operation.as_strategy(mode))
        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=base, checks=CHECKS)

        check()
