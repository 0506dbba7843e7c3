"""Credentials in storage options (``--storage-option key=... secret=...``, or a config file's
``storage_options``) are never written to storage or logs.

:func:`redact` replaces them before a config, a run plan or Tune's params are serialised; the driver
hands them to its Ray workers in memory (:func:`secrets_env` for a runtime env, or Tune's object store),
and :func:`restore_secrets` puts them back there. Readers of a run directory (evaluate, resume) take them
from the flags given again, or from the storage backend's own chain (s3fs reads AWS_* and AWS_PROFILE).
"""
from __future__ import annotations

import json
import os

#: An option is a credential when its name contains one of these (key, secret, access_key, token,
#: session_token, password, credentials, ...).
SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "session", "credential", "auth", "signature")
REDACTED = "<redacted>"
#: Environment variable through which the driver hands credentials to its Ray workers (never persisted).
SECRETS_ENV = "DEEPWAS_STORAGE_SECRETS"


def is_secret_option(name: str) -> bool:
    low = str(name).lower()
    return any(w in low for w in SECRET_WORDS)


def redact(options: dict | None) -> dict:
    """A copy of ``options`` with every credential value (nested dicts too) replaced by REDACTED."""
    out = {}
    for k, v in (options or {}).items():
        if isinstance(v, dict):
            out[k] = redact(v)
        elif is_secret_option(k) and v is not None and not isinstance(v, bool):
            out[k] = REDACTED
        else:
            out[k] = v
    return out


def secrets_of(options: dict | None) -> dict:
    """Only the credential values of ``options`` (nested dicts kept where they hold one)."""
    out = {}
    for k, v in (options or {}).items():
        if isinstance(v, dict):
            inner = secrets_of(v)
            if inner:
                out[k] = inner
        elif is_secret_option(k) and v is not None and not isinstance(v, bool) and v != REDACTED:
            out[k] = v
    return out


def secrets_env(options: dict | None) -> dict[str, str]:
    """{SECRETS_ENV: JSON of the credentials} for a Ray runtime env (empty when there are none)."""
    sec = secrets_of(options)
    return {SECRETS_ENV: json.dumps(sec)} if sec else {}


def restore_secrets(options: dict | None, secrets: dict | None = None) -> dict:
    """``options`` as read back from storage, with each REDACTED value taken from ``secrets`` (default:
    the JSON in $DEEPWAS_STORAGE_SECRETS, set by the driver for its workers) or dropped, so the backend
    falls back to its own credential chain (environment, profile)."""
    if secrets is None:
        try:
            secrets = json.loads(os.environ.get(SECRETS_ENV) or "{}")
        except json.JSONDecodeError:
            secrets = {}
    out = {}
    for k, v in (options or {}).items():
        if isinstance(v, dict):
            out[k] = restore_secrets(v, secrets.get(k) if isinstance(secrets.get(k), dict) else {})
        elif v == REDACTED:
            if k in secrets:
                out[k] = secrets[k]
        else:
            out[k] = v
    return out
