"""The `enlace` command."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import httpx

from services.demo_data import GATEWAYS, SAMPLE_REFERRAL, hosted_institutions
from services.directory.admin import add_commands as add_directory_commands
from services.stack import (
    StackError,
    StackOptions,
    database_names,
    hold_service,
    load_stack,
    release_service,
    run_up,
)

DEFAULT_DATA_DIR = Path("enlace-data")
SERVICES = ("directory", "registry", "exchange")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from shared.kit.db import migrate
    from shared.kit.logging import configure_logging
    from shared.protocol.settings import get_settings

    settings = get_settings()
    configure_logging(settings.effective_log_format, settings.log_level, args.service)
    migrate(f"services.{args.service}", settings.database_url_for(args.service))
    if args.service == "directory":
        from services.directory.app import create_app
    elif args.service == "registry":
        from services.registry.app import create_app
    else:
        from services.exchange.app import create_app
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning",
                access_log=False)
    return 0


def _up(args: argparse.Namespace) -> int:
    ports = {"nats": args.nats_port, "directory": args.directory_port,
             "registry": args.registry_port, "gateway-MX": args.mx_port,
             "gateway-HN": args.hn_port}
    return run_up(StackOptions(
        data_dir=args.data_dir, ports=ports, database_url_template=args.database_url_template,
        gateways={country: hosted_institutions(country) for country in args.countries},
        log_format=args.log_format,
    ))


def gateway_countries(value: str) -> list[str]:
    """`--countries MX,HN,GT`: the demo's two and any member whose institutions a gateway
    can host."""
    countries = list(dict.fromkeys(c.strip().upper() for c in value.split(",") if c.strip()))
    for country in countries:
        if not hosted_institutions(country):
            raise argparse.ArgumentTypeError(
                f"{country} is not a member country with a child-protection authority in the "
                f"demo directory")
    missing = {"MX", "HN"} - set(countries)
    if missing:
        raise argparse.ArgumentTypeError(f"the demo needs MX and HN (missing: "
                                         f"{', '.join(sorted(missing))})")
    return countries


def _demo(args: argparse.Namespace) -> int:
    stack = load_stack(args.data_dir)
    mx = stack["gateways"]["MX"]
    headers = {"Authorization":
               f"Bearer {mx['institutions']['mx-sndif']['tokens']['caseworker']}"}
    with httpx.Client(base_url=mx["url"], headers=headers, timeout=10) as client:
        try:
            sent = client.post("/v1/referrals", json=SAMPLE_REFERRAL)
        except httpx.HTTPError as exc:
            raise StackError(f"The MX gateway at {mx['url']} cannot be reached "
                             f"({type(exc).__name__}); see {stack['logs']}.") from exc
        if sent.status_code != 202:
            print(f"The gateway refused the referral ({sent.status_code}):\n{sent.text}",
                  file=sys.stderr)
            return 1
        referral_id = sent.json()["id"]
        print(f"Sent referral {referral_id} from SNDIF (MX) to SENAF (HN); waiting for the "
              f"signed receipt ...", file=sys.stderr)
        deadline = time.monotonic() + args.timeout
        while True:
            referral = client.get(f"/v1/referrals/{referral_id}").json()
            if referral["status"] == "delivered" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    print(json.dumps(referral, indent=2, ensure_ascii=False))
    if referral["status"] != "delivered":
        print(f"Not delivered within {args.timeout} s.", file=sys.stderr)
        return 1
    return 0


def _env(args: argparse.Namespace) -> int:
    stack = load_stack(args.data_dir)
    mx, hn = stack["gateways"]["MX"], stack["gateways"]["HN"]
    values = {
        "DIRECTORY_URL": stack["directory"]["url"],
        "REGISTRY_URL": stack["registry"]["url"],
        "AUDITOR_TOKEN": stack["registry"]["tokens"]["auditor"],
        "MX_URL": mx["url"],
        "MX_TOKEN": mx["institutions"]["mx-sndif"]["tokens"]["caseworker"],
        "PFPNNA_TOKEN": mx["institutions"]["mx-pfpnna"]["tokens"]["caseworker"],
        "HN_URL": hn["url"],
        "HN_TOKEN": hn["institutions"]["hn-senaf"]["tokens"]["caseworker"],
        "HN_ADMIN_TOKEN": hn["institutions"]["hn-senaf"]["tokens"]["country_admin"],
    }
    for name, value in values.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _service(args: argparse.Namespace) -> int:
    if args.action == "stop":
        hold_service(args.data_dir, args.name)
        print(f"{args.name} stopped; 'enlace service start {args.name}' starts it again.")
        return 0
    release_service(args.data_dir, args.name)
    url = _service_url(load_stack(args.data_dir), args.name)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            if url is None or httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                print(f"{args.name} is running.")
                return 0
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    print(f"{args.name} is not ready after {args.timeout} s.", file=sys.stderr)
    return 1


def _audit_verify(args: argparse.Namespace) -> int:
    from services.audit_verify import run_verify

    return run_verify(args)


def _nats_init(args: argparse.Namespace) -> int:
    from shared.protocol.nats_auth import load_or_create_trust, public_key, write_server_include

    try:
        trust = load_or_create_trust(args.dir)
    except FileNotFoundError as exc:
        raise StackError(f"{exc}: put the offline seeds back first.") from exc
    include = write_server_include(trust)
    print(f"""NATS trust chain in {args.dir} (seeds 0600; keep operator.nk and account.nk offline).
  operator         {public_key(trust.operator_seed)}
  account ENLACE   {trust.account_public_key}
  server include   {include}   (public: `include` it in every server's config)

For the directory service, which issues a joining country's gateway credentials:
  ENLACE_NATS_ACCOUNT_SIGNING_KEY_FILE={trust.account_signing_key_file}
  ENLACE_NATS_ACCOUNT_PUBLIC_KEY={trust.account_public_key}""")
    return 0


def _nats_credentials(args: argparse.Namespace) -> int:
    from shared.protocol.nats_auth import (
        ADMIN,
        CREDS_DIR,
        REGISTRY,
        gateway_identity,
        inbox_prefix,
        issue_credentials,
        write_secret,
    )

    identity = ADMIN if args.admin else REGISTRY if args.regional else gateway_identity(
        args.country)
    try:
        text = issue_credentials(args.dir, identity)
    except FileNotFoundError as exc:
        raise StackError(f"No NATS account signing key in {args.dir}: run 'enlace nats init "
                         f"--dir {args.dir}' first.") from exc
    except ValueError as exc:
        raise StackError(str(exc)) from exc
    out = args.out or args.dir / CREDS_DIR / f"{identity}.creds"
    write_secret(out, text)
    print(f"{identity}: {out} (0600). Give it to the service as ENLACE_NATS_CREDENTIALS; "
          f"its replies use the inbox prefix {inbox_prefix(identity)}.")
    return 0


def _service_url(stack: dict[str, object], name: str) -> str | None:
    if name.startswith("gateway-"):
        return str(stack["gateways"][name.removeprefix("gateway-")]["url"])  # type: ignore[index]
    if name in ("directory", "registry"):
        return str(stack[name]["url"])  # type: ignore[index]
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enlace", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the whole system on this machine, with demo data")
    up.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    for flag in ("nats", "directory", "registry", "mx", "hn"):
        up.add_argument(f"--{flag}-port", type=int, default=0,
                        help="default: a free port")
    databases = database_names(GATEWAYS)
    up.add_argument("--database-url-template", default=None, metavar="URL",
                    help="one database per service, {service} being "
                         f"{', '.join(databases[:-1])} and {databases[-1]} (exchange_<country> "
                         "for each gateway): e.g. postgresql+psycopg://user@host/enlace_{service}"
                         f" for {', '.join('enlace_' + name for name in databases)}. Those "
                         "missing are created (the user needs CREATEDB; else `enlace up` says "
                         "how to create them). Default: SQLite files under the data directory")
    up.add_argument("--countries", type=gateway_countries, default=list(GATEWAYS),
                    help="the member countries whose gateways run, comma-separated "
                         "(default: MX,HN; e.g. MX,HN,GT adds Guatemala's, hosting SBS and "
                         "PGN; its agreements are made by hand)")
    up.add_argument("--log-format", choices=["console", "json"], default="console")
    up.set_defaults(func=_up)

    serve = commands.add_parser("serve", help="run one service (configured by ENLACE_*)")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, required=True)
    serve.set_defaults(func=_serve)

    demo = commands.add_parser("demo", help="send a sample referral MX -> HN through a "
                                            "running 'enlace up'")
    demo.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    demo.add_argument("--timeout", type=float, default=30.0)
    demo.set_defaults(func=_demo)
    service = commands.add_parser(
        "service", help="stop one service of a running 'enlace up' (it stays down) or start it "
                        "again; a service that exits by itself is restarted at once")
    service.add_argument("action", choices=["stop", "start"])
    service.add_argument("name", help="nats, directory, registry or gateway-<COUNTRY> "
                                      "(e.g. gateway-MX)")
    service.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    service.add_argument("--timeout", type=float, default=60.0)
    service.set_defaults(func=_service)

    env = commands.add_parser("env", help="print shell exports (URLs, demo tokens) of a "
                                          "running 'enlace up', for curl")
    env.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    env.set_defaults(func=_env)

    audit = commands.add_parser("audit", help="the registry's audit log").add_subparsers(
        dest="audit_command", required=True)
    verify = audit.add_parser(
        "verify", help="check the audit log from outside: the latest checkpoint's signature, "
                       "its consistency with one saved earlier, and that the entries "
                       "reproduce its root")
    verify.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="a running 'enlace up', for whatever is not given below")
    verify.add_argument("--registry-url")
    verify.add_argument("--public-key", help="the registry's public JWK, or a file holding it")
    verify.add_argument("--token", help="an auditor's token (or ENLACE_AUDIT_TOKEN), to check "
                                        "the entries themselves")
    verify.add_argument("--directory-url", help="the directory, for the institutions' keys "
                                                "that the entries' signatures are checked with")
    verify.add_argument("--directory-token", help="a directory token (or "
                                                  "ENLACE_DIRECTORY_TOKEN): keys' history")
    verify.add_argument("--checkpoint", type=Path, default=None,
                        help="file of the checkpoint saved by the previous run; updated")
    verify.set_defaults(func=_audit_verify)

    nats_commands = commands.add_parser(
        "nats", help="NATS credentials for a real deployment (JWT auth; deploy/README.md)"
    ).add_subparsers(dest="nats_command", required=True)
    nats_init = nats_commands.add_parser(
        "init", help="create (once) the operator, the ENLACE and system accounts and the "
                     "server config include")
    nats_init.add_argument("--dir", type=Path, required=True)
    nats_init.set_defaults(func=_nats_init)
    creds = nats_commands.add_parser("credentials", help="write a new 0600 .creds file")
    creds.add_argument("--dir", type=Path, required=True, help="made by 'enlace nats init'")
    who = creds.add_mutually_exclusive_group(required=True)
    who.add_argument("--country", help="a country's gateway, e.g. GT")
    who.add_argument("--regional", action="store_true", help="the registry")
    who.add_argument("--admin", action="store_true",
                     help="the secretariat's operators: unrestricted")
    creds.add_argument("--out", type=Path, help="default: DIR/creds/IDENTITY.creds")
    creds.set_defaults(func=_nats_credentials)
    add_directory_commands(commands, DEFAULT_DATA_DIR)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StackError as exc:
        print(f"enlace {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
