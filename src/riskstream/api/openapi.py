"""The OpenAPI 3 document of the worker's API, served at ``GET /openapi.json``.

Built from the settings, so it states what this worker accepts (its currencies, whether a
bearer token is required). Field rules are the contract's (``streams.codec``).
"""

from __future__ import annotations

from typing import Any

from riskstream.config import Settings
from riskstream.streams.codec import CHANNELS, FUNDINGS, MAX_AMOUNT, MAX_IP_CHARS, MAX_TS, MIN_TS

ID = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json({"$ref": "#/components/schemas/Error"}, description)


def _payment(currencies: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["txn_id", "user_id", "merchant_id", "amount", "currency", "ts"],
        "properties": {
            "txn_id": ID,
            "user_id": ID,
            "merchant_id": ID,
            "amount": {
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": True,
                "maximum": MAX_AMOUNT,
            },
            "currency": {"type": "string", "enum": currencies},
            "ts": {
                "type": "integer",
                "minimum": MIN_TS,
                "maximum": MAX_TS,
                "description": "epoch milliseconds, 2000-01-01 to 2100-01-01",
            },
            "channel": {"type": "string", "enum": sorted(CHANNELS), "default": "ecommerce"},
            "funding": {"type": "string", "enum": sorted(FUNDINGS), "default": "balance"},
            "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "device_id": {"type": "string", "maxLength": 128},
            "ip": {
                "type": "string",
                "maxLength": MAX_IP_CHARS,
                "description": "an IPv4 or IPv6 address (no zone id)",
            },
            "mcc": {"type": "string", "pattern": "^[0-9]{4}$"},
        },
    }


DECISION = {
    "type": "object",
    "required": [
        "txn_id",
        "user_id",
        "decision",
        "fraud_probability",
        "risk_score",
        "reasons",
        "credit",
        "model_version",
        "rules_version",
        "event_ts",
        "decided_ts",
    ],
    "properties": {
        "txn_id": ID,
        "user_id": ID,
        "decision": {"type": "string", "enum": ["approve", "review", "decline"]},
        "fraud_probability": {"type": "number", "minimum": 0, "maximum": 1},
        "risk_score": {"type": "integer", "minimum": 0, "maximum": 99},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "credit": {
            "type": "object",
            "required": ["score", "limit", "available", "currency"],
            "properties": {
                "score": {"type": "integer"},
                "limit": {"type": "number"},
                "available": {"type": "number"},
                "currency": {"type": "string"},
                "pd": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "probability of default the score stands for "
                    "(docs/credit.md); absent in decisions made before it",
                },
            },
        },
        "model_version": {"type": "string"},
        "rules_version": {
            "type": "integer",
            "minimum": 0,
            "description": "the risk-config version decided under (0: the environment's "
            "settings); see docs/rules.md",
        },
        "event_ts": {"type": "integer"},
        "decided_ts": {"type": "integer"},
    },
}

CREDIT_LINE = {
    "type": "object",
    "required": [
        "user_id",
        "credit_score",
        "limit",
        "available",
        "currency",
        "status",
        "days_past_due",
        "version",
        "ts",
    ],
    "properties": {
        "user_id": ID,
        "credit_score": {"type": "integer", "minimum": 350, "maximum": 950},
        "limit": {"type": "number"},
        "available": {"type": "number"},
        "currency": {"type": "string"},
        "status": {"enum": ["current", "delinquent", "frozen"]},
        "days_past_due": {"type": "integer", "minimum": 0},
        "amount_past_due": {"type": "number", "minimum": 0},
        "next_due_ts": {"type": "integer", "nullable": True},
        "pd": {"type": "number", "minimum": 0, "maximum": 1},
        "reasons": {
            "type": "array",
            "items": {"type": "string"},
            "description": "principal reasons the score is below the best, most important "
            "first (codes: docs/credit.md)",
        },
        "factors": {"type": "object"},
        "policy_version": {"type": "integer", "minimum": 0},
        "version": {"type": "integer"},
        "ts": {"type": "integer"},
    },
}

FEATURES = {
    "type": "object",
    "required": ["user_id", "n_payments"],
    "properties": {"user_id": ID, "n_payments": {"type": "integer", "minimum": 0}},
    "additionalProperties": {"type": "number", "nullable": True},
}

ANALYST = {"type": "string", "pattern": "^[A-Za-z0-9._:@-]{1,64}$"}
REVIEW_LINE = {
    "type": "object",
    "required": [
        "txn_id",
        "user_id",
        "amount",
        "currency",
        "risk_score",
        "priority",
        "opened_ts",
        "age_s",
        "escalated",
        "claimed_by",
    ],
    "properties": {
        "txn_id": ID,
        "user_id": ID,
        "merchant_id": ID,
        "amount": {"type": "number"},
        "currency": {"type": "string"},
        "risk_score": {"type": "integer"},
        "fraud_probability": {"type": "number"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "priority": {"type": "number", "description": "fraud_probability x amount"},
        "opened_ts": {"type": "integer"},
        "age_s": {"type": "number"},
        "escalated": {"type": "boolean", "description": "open past the SLA (listed first)"},
        "claimed_by": {"type": "string", "nullable": True},
        "claim_left_s": {"type": "number", "nullable": True},
    },
}
REVIEW_PAGE = {
    "type": "object",
    "required": ["items", "open", "offset", "limit", "next_offset"],
    "properties": {
        "items": {"type": "array", "items": REVIEW_LINE},
        "open": {"type": "integer", "description": "open reviews in all (unfiltered)"},
        "offset": {"type": "integer"},
        "limit": {"type": "integer"},
        "next_offset": {"type": "integer", "nullable": True},
    },
}
REVIEW = {
    "type": "object",
    "required": [
        "txn_id",
        "status",
        "payment",
        "decision",
        "features",
        "verdict",
        "recent_payments",
        "credit_line",
    ],
    "properties": {
        "txn_id": ID,
        "status": {"enum": ["open", "closed"]},
        "payment": {"$ref": "#/components/schemas/Payment"},
        "decision": {"type": "object"},
        "features": {"type": "object", "additionalProperties": {"type": "number"}},
        "priority": {"type": "number"},
        "escalated": {"type": "boolean"},
        "claimed_by": {"type": "string", "nullable": True},
        "verdict": {
            "type": "object",
            "nullable": True,
            "description": "label, analyst, note, closed_ts; or resolution (the SLA's)",
        },
        "recent_payments": {"type": "array", "items": {"type": "object"}},
        "credit_line": {"type": "object"},
    },
}
CONFLICT = {
    "type": "object",
    "required": ["error", "status", "analyst"],
    "properties": {
        "error": {"type": "string"},
        "status": {"enum": ["held", "closed", "done"]},
        "analyst": {"type": "string", "description": "who holds or closed it (sla: the policy)"},
    },
}
VERDICT = {
    "type": "object",
    "required": ["label", "analyst"],
    "properties": {
        "label": {"type": "string", "enum": ["fraud", "legit"]},
        "analyst": ANALYST,
        "note": {"type": "string", "maxLength": 2000},
    },
}
LABELLED = {
    "type": "object",
    "required": ["txn_id", "status", "label"],
    "properties": {
        "txn_id": ID,
        "status": {"enum": ["closed"]},
        "label": {"type": "object", "description": "the message published on labels"},
    },
}

HEALTH = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string"}, "checks": {"type": "object"}},
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _review_paths(guarded: dict[str, Any], unavailable: dict[str, Any]) -> dict[str, Any]:
    """The review queue's page and API (docs/review.md)."""
    txn = [{"name": "txn_id", "in": "path", "required": True, "schema": ID}]
    conflict = _json(CONFLICT, "another analyst holds or closed it (or the SLA policy did)")
    bad = {"400": _error("a bad txn_id or body"), "404": _error("no review of this txn_id")}
    body_errors = {"408": _error("the body did not arrive in time"), "413": _error("over 64 KiB")}
    query = [
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": 100_000},
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
        },
        {"name": "user_id", "in": "query", "schema": ID},
        {
            "name": "escalated",
            "in": "query",
            "schema": {"type": "string", "enum": ["true", "false"]},
        },
    ]
    return {
        "/review": {
            "get": {
                "summary": "The analysts' review queue page",
                "operationId": "reviewPage",
                "responses": {
                    "200": {"description": "the page", "content": {"text/html": {}}},
                    **guarded,
                },
            }
        },
        "/v1/reviews": {
            "get": {
                "summary": "Open reviews, most at stake first (escalated ones first of all)",
                "operationId": "reviews",
                "parameters": query,
                "responses": {
                    "200": _json(REVIEW_PAGE, "a page of open reviews"),
                    "400": _error("a bad or unknown parameter"),
                    **guarded,
                    **unavailable,
                },
            }
        },
        "/v1/reviews/{txn_id}": {
            "get": {
                "summary": "One review with its context (recent payments, credit line)",
                "operationId": "reviewItem",
                "parameters": txn,
                "responses": {"200": _json(REVIEW, "the review"), **bad, **guarded, **unavailable},
            },
            "post": {
                "summary": "The verdict: its label is published once on labels",
                "operationId": "review",
                "parameters": txn,
                "requestBody": _body(VERDICT),
                "responses": {
                    "200": _json(LABELLED, "closed; the label is published"),
                    **bad,
                    **body_errors,
                    "409": conflict,
                    **guarded,
                    **unavailable,
                },
            },
        },
        "/v1/reviews/{txn_id}/claim": {
            "post": {
                "summary": "Claim a review for a few minutes (a lease), with its context",
                "operationId": "claimReview",
                "parameters": txn,
                "requestBody": _body(
                    {"type": "object", "required": ["analyst"], "properties": {"analyst": ANALYST}}
                ),
                "responses": {
                    "200": _json(REVIEW, "claimed: the review"),
                    **bad,
                    **body_errors,
                    "409": conflict,
                    **guarded,
                    **unavailable,
                },
            }
        },
    }


def document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.0 document of this worker."""
    user = [{"name": "user_id", "in": "path", "required": True, "schema": ID}]
    guarded = {"401": _error("missing or wrong bearer token")} if settings.api_token else {}
    unavailable = {"503": _error("not ready (Kafka assignment, Redis); retry")}
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "riskstream worker API",
            "version": "1",
            "description": "Score payments; read users' credit lines and features; health.",
        },
        "paths": {
            "/v1/score": {
                "post": {
                    "summary": "Score one payment (the stream's path; a re-sent txn_id gets "
                    "the decision already made)",
                    "operationId": "score",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Payment"}}
                        },
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Decision"}, "the decision"),
                        "400": _error(
                            "a bad payment (every broken field rule), or one that could not "
                            "be scored (the reason)"
                        ),
                        "408": _error("the body did not arrive within the idle timeout"),
                        "413": _error("body over 64 KiB"),
                        "429": _error("the worker is overloaded; retry after Retry-After"),
                        **guarded,
                        **unavailable,
                    },
                }
            },
            "/v1/users/{user_id}/credit": {
                "get": {
                    "summary": "The user's current credit line",
                    "operationId": "userCredit",
                    "parameters": user,
                    "responses": {
                        "200": _json(CREDIT_LINE, "the newest credit-limits message"),
                        "400": _error("a bad user_id"),
                        **guarded,
                        **unavailable,
                    },
                }
            },
            "/v1/users/{user_id}/features": {
                "get": {
                    "summary": "The user's current rolling features",
                    "operationId": "userFeatures",
                    "parameters": user,
                    "responses": {
                        "200": _json(FEATURES, "the rolling features"),
                        "400": _error("a bad user_id"),
                        **guarded,
                        **unavailable,
                    },
                }
            },
            **_review_paths(guarded, unavailable),
            "/healthz": {
                "get": {
                    "summary": "Liveness (never needs the token)",
                    "operationId": "healthz",
                    "security": [],
                    "responses": {"200": _json(HEALTH, "alive")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: Kafka assignment, Redis, a model (or cold-start rules)",
                    "operationId": "readyz",
                    "responses": {
                        "200": _json(HEALTH, "ready"),
                        **guarded,
                        "503": _json(HEALTH, "not ready; checks says what is missing"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3"), **guarded},
                }
            },
        },
        "components": {
            "schemas": {
                "Payment": _payment(sorted(settings.currency_set)),
                "Decision": DECISION,
                "Error": ERROR,
            }
        },
    }
    if settings.api_token:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc
