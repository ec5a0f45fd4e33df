"""`enlace directory ...`: a regional administrator registers countries and institutions and
issues (or revokes) a gateway's credentials, over the directory's HTTP API only.

The directory and the token come from --directory-url and --token (or ENLACE_DIRECTORY_URL
and ENLACE_ADMIN_TOKEN), else from a running `enlace up` (--data-dir).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from services.stack import StackError, load_stack
from shared.kit.files import write_atomically


def _client(args: argparse.Namespace) -> httpx.Client:
    url = args.directory_url or os.environ.get("ENLACE_DIRECTORY_URL")
    token = args.token or os.environ.get("ENLACE_ADMIN_TOKEN")
    if not (url and token):
        stack = load_stack(args.data_dir)
        url = url or stack["directory"]["url"]
        token = token or stack["directory"]["tokens"]["regional_admin"]
    return httpx.Client(base_url=str(url), timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def _call(args: argparse.Namespace, path: str, body: Any = None) -> dict[str, Any] | None:
    """POST to the directory; the answer, or None after printing the problem."""
    try:
        with _client(args) as client:
            response = client.post(path, json=body)
    except httpx.HTTPError as exc:
        raise StackError(f"The directory cannot be reached ({type(exc).__name__}).") from exc
    if response.status_code >= 400:
        print(f"The directory refused ({response.status_code}):\n{response.text}",
              file=sys.stderr)
        return None
    return dict(response.json())


def _show(answer: dict[str, Any] | None) -> int:
    if answer is None:
        return 1
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


def _add_country(args: argparse.Namespace) -> int:
    return _show(_call(args, "/v1/countries", {
        "code": args.code, "name": args.name, "name_es": args.name_es,
        "crm_member": not args.observer}))


def _add_institution(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text()
    return _show(_call(args, "/v1/institutions", json.loads(text)))


def _issue_credentials(args: argparse.Namespace) -> int:
    answer = _call(args, f"/v1/institutions/{args.institution}/credentials")
    if answer is None:
        return 1
    if args.token_file:
        write_atomically(args.token_file, answer.pop("token") + "\n")
        answer["token_file"] = str(args.token_file)
    if args.creds_file and answer.get("nats_credentials"):
        write_atomically(args.creds_file, answer.pop("nats_credentials"))
        answer["creds_file"] = str(args.creds_file)
    print("Shown once: the directory keeps only the token's hash.", file=sys.stderr)
    return _show(answer)


def _revoke_credentials(args: argparse.Namespace) -> int:
    return _show(_call(args, f"/v1/institutions/{args.institution}/credentials/revocation"))


def add_commands(commands: Any, default_data_dir: Path) -> None:
    """The `enlace directory` command group."""
    group = commands.add_parser(
        "directory", help="register countries and institutions, issue or revoke a gateway's "
                          "credentials (regional administrators, over the directory's API)")
    actions = group.add_subparsers(dest="directory_command", required=True)

    def action(name: str, help: str, func: Any) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help)
        parser.add_argument("--directory-url", help="default: ENLACE_DIRECTORY_URL, or the "
                                                    "running 'enlace up'")
        parser.add_argument("--token", help="a regional administrator's token (default: "
                                            "ENLACE_ADMIN_TOKEN, or the running 'enlace up')")
        parser.add_argument("--data-dir", type=Path, default=default_data_dir)
        parser.set_defaults(func=func)
        return parser

    country = action("add-country", "add a member (or --observer) country", _add_country)
    country.add_argument("code", help="ISO 3166-1 alpha-2, e.g. CR")
    country.add_argument("--name", required=True, help="in English")
    country.add_argument("--name-es", required=True, help="in Spanish")
    country.add_argument("--observer", action="store_true")

    institution = action("add-institution", "add an institution from a JSON file (the body "
                                            "of POST /v1/institutions; '-': stdin)",
                         _add_institution)
    institution.add_argument("file", type=Path)

    issue = action("issue-credentials", "issue the gateway token and NATS credentials of an "
                                        "institution (revokes its previous token)",
                   _issue_credentials)
    issue.add_argument("institution")
    issue.add_argument("--token-file", type=Path, help="write the token here (0600) instead "
                                                       "of printing it")
    issue.add_argument("--creds-file", type=Path, help="write the NATS .creds here (0600) "
                                                       "instead of printing it")

    revoke = action("revoke-credentials", "revoke an institution's gateway token",
                    _revoke_credentials)
    revoke.add_argument("institution")
