#!/usr/bin/env python3
"""Drives a running gateway from its own OpenAPI document (tests/openapi.rs starts the fleet,
seeds a tenant and calls this).

1. Fetches GET /v1/openapi.json and validates it as OpenAPI 3.1 (openapi-spec-validator).
2. Runs schemathesis against it (in two passes, those that delete the seeded records last) with the checks not_a_server_error, status_code_conformance,
   content_type_conformance and response_schema_conformance: every answer must be documented,
   of a documented content type and match its schema, and none may be a 5xx. Path parameters
   that name the seeded tenant's records are filled with their ids, so calls reach past "not
   found" into the handlers; the rest is generated (positive and negative data).

Usage: conformance.py SEED.json, where SEED.json holds
  {"base_url", "token", "sign_out_token", "ids": {"tenant", "agent", "team", "conversation",
   "customer", "template", "widget"}, "max_examples", "workers", "report_dir", "seed"}.
Exits non-zero when the document is invalid or any check failed.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"

# The live WebSocket is described for clients, not driven over HTTP.
EXCLUDED_PATHS = ["/v1/stream"]

# Operations that remove or spoil the seeded records the others are driven with (every
# conversation by a bulk delete, the team, the template, the widget; creating a user with an
# email seen in an answer changes that user, the admin too): driven in a second pass, last.
WIPING_OPERATIONS = [
    "bulk_action",
    "delete_template",
    "delete_team",
    "remove_member",
    "delete_webchat_widget",
    "create_user",
]


def toml_string(value: str) -> str:
    """A TOML basic string (its escapes are JSON's)."""
    return json.dumps(value)


def config(seed: dict) -> str:
    """The schemathesis.toml of the run: the admin's bearer token for every call, a throwaway
    session's for sign-out (which ends the session it is called with), and the seeded ids."""
    ids = seed["ids"]
    lines = [
        f"workers = {int(seed['workers'])}",
        f"seed = {int(seed['seed'])}",
        "request-timeout = 30",
        "",
        "[headers]",
        f"Authorization = {toml_string('Bearer ' + seed['token'])}",
        "",
        "[generation]",
        f"max-examples = {int(seed['max_examples'])}",
        "",
        "[parameters]",
        f'"path.tenant_id" = {toml_string(ids["tenant"])}',
        f'"path.user_id" = {toml_string(ids["agent"])}',
        f'"path.team_id" = {toml_string(ids["team"])}',
        f'"path.widget_id" = {toml_string(ids["widget"])}',
    ]
    by_path = [
        (r"^/v1/conversations/\{id\}", ids["conversation"]),
        (r"^/v1/customers/\{id\}", ids["customer"]),
        (r"^/v1/templates/\{id\}", ids["template"]),
        (r"^/v1/agents/\{id\}", ids["agent"]),
    ]
    for regex, value in by_path:
        lines += [
            "",
            "[[operations]]",
            f"include-path-regex = {toml_string(regex)}",
            f'parameters = {{ "path.id" = {toml_string(value)} }}',
        ]
    lines += [
        "",
        "[[operations]]",
        'include-path = "/v1/auth/sign-out"',
        f"headers = {{ Authorization = {toml_string('Bearer ' + seed['sign_out_token'])} }}",
    ]
    return "\n".join(lines) + "\n"


def fetch_document(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/v1/openapi.json", timeout=30) as answer:
        assert answer.status == 200, f"GET /v1/openapi.json answered {answer.status}"
        content_type = answer.headers.get("content-type", "")
        assert content_type.startswith("application/json"), f"the document came as {content_type}"
        return json.load(answer)


def main() -> int:
    seed = json.load(open(sys.argv[1]))
    base_url = seed["base_url"].rstrip("/")
    document = fetch_document(base_url)
    try:
        validate(document)
    except OpenAPIValidationError as e:
        print(f"the document is not valid OpenAPI {document.get('openapi')}: {e}", flush=True)
        return 1
    operations = sum(
        1
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch") and path not in EXCLUDED_PATHS
    )
    print(f"document: OpenAPI {document['openapi']}, valid; {len(document['paths'])} paths, "
          f"{operations} operations driven", flush=True)

    report_dir = seed["report_dir"]
    os.makedirs(report_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        config_file = os.path.join(tmp, "schemathesis.toml")
        with open(config_file, "w") as f:
            f.write(config(seed))
        common = [
            os.path.join(os.path.dirname(sys.executable), "schemathesis"),
            "--config-file", config_file,
            "run", f"{base_url}/v1/openapi.json",
            "--checks", CHECKS,
            "--phases", "examples,coverage,fuzzing",
            "--no-color",
            "--output-truncate", "false",
            "--suppress-health-check", "all",
            "--generation-database", "none",
        ]
        for path in EXCLUDED_PATHS:
            common += ["--exclude-path", path]
        passes = [
            ("the operations that keep the seeded records", "exclude"),
            ("the operations that remove them", "include"),
        ]
        failed = False
        started = time.monotonic()
        for number, (what, choice) in enumerate(passes, start=1):
            print(f"pass {number}: {what}", flush=True)
            command = common + ["--report", "junit,har", "--report-dir", os.path.join(report_dir, f"pass-{number}")]
            for operation_id in WIPING_OPERATIONS:
                command += [f"--{choice}-operation-id", operation_id]
            # Its working directory gets schemathesis' cache: the report directory, not the source tree.
            run = subprocess.run(command, cwd=report_dir)
            print(f"pass {number} ended with exit code {run.returncode}", flush=True)
            failed |= run.returncode != 0
        print(f"schemathesis finished in {time.monotonic() - started:.0f} s: "
              f"{'FAILED' if failed else 'no failure'}", flush=True)
        return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
