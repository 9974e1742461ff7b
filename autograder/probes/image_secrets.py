"""Secrets in an image's configuration, history and layers (lab 06), read from `docker inspect`,
`docker history` and `docker save`: no student code runs."""

from __future__ import annotations

import re


from autograder.probes.images import _instruction


# -- image security --------------------------------------------------------------------------
# Secrets in an image's configuration, history and layers (lab 06). The image is read from
# `docker inspect`, `docker history` and `docker save`: no student code runs.

# Names of variables that usually hold a credential (CIS 4.10, DL3064, DS-0031).
SECRET_NAME = re.compile(r"(PASS(WORD|WD)?|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|"
                          r"(^|_)KEY$|(^|_)AUTH$)", re.I)
# …unless they name where the secret lives (the `*_FILE` convention): a path is not a secret.
NOT_A_SECRET_SUFFIXES = ("_FILE", "_PATH", "_DIR", "_FILENAME", "_URL_FILE")


def secret_name(name: str) -> bool:
    """Whether a variable called ``name`` would hold a credential (and not a path to one)."""
    upper = name.upper()
    return bool(SECRET_NAME.search(upper)) and not upper.endswith(NOT_A_SECRET_SUFFIXES)


def secret_env(env: list, inherited: list = ()) -> list:
    """``KEY=value`` entries of an image's ``Config.Env`` that look like credentials.

    Entries inherited unchanged from the base image are left out (the official python image
    sets ``GPG_KEY``, a public key fingerprint); an empty value holds nothing.
    """
    base = set(inherited or ())
    found = []
    for item in env or []:
        key, _, value = item.partition("=")
        if item not in base and value.strip() and secret_name(key):
            found.append(key)
    return found


def history_secrets(created_by: list) -> list:
    """``(instruction, variable)`` of every ``ARG``/``ENV`` with a credential-like name and a value,
    and of every build argument with such a name recorded on a ``RUN`` step, from
    ``docker history --no-trunc`` (legacy builder ``/bin/sh -c #(nop)  ARG X=…``, ``|1 X=… /bin/sh
    -c …``, and BuildKit ``ARG X=…``, ``RUN |1 X=… …`` forms)."""
    found = []
    for line in created_by or []:
        text = re.sub(r"^/bin/sh -c #\(nop\)\s*", "", (line or "").strip())
        pairs: list = []
        m = re.match(r"^(ARG|ENV)\s+(.*)$", text, re.S)
        if m:
            pairs = re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\'[^\']*\'|\S*)', m.group(2))
        else:
            b = re.match(r"^(?:RUN\s+)?\|(\d+)\s+(.*)$", text, re.S)
            if b:
                tokens = b.group(2).split()[: int(b.group(1))]
                pairs = [tuple(t.split("=", 1)) for t in tokens if "=" in t]
        for name, value in pairs:
            if value.strip("\"'") and secret_name(name):
                found.append((_instruction(line)[:160], name))
    return found
