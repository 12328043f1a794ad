"""The `chatkit` command: `chatkit serve MODULE:ATTR` runs any `ChatKitServer`; `chatkit demo` runs the demo.

Both serve the ChatKit endpoint at `/chatkit` and the playground at `/` with uvicorn, which comes
with the `serve` extra (`pip install 'chatkit-server[serve]'`).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import socket
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from chatkit._targets import (
    EXIT_USAGE,
    UsageError,
    check_store,
    load_target,
    resolve_server,
    store_argument,
)
from chatkit.data._commands import COMMANDS
from chatkit.data._commands import add_commands as add_data_commands
from chatkit.data._commands import run as run_data_command
from chatkit.data._copy_cli import add_copy_command, run_copy

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request

    from chatkit.asgi import Drain
    from chatkit.data import RetentionSweeper
    from chatkit.server import ChatKitServer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

# `--reload` makes uvicorn import the app in a fresh worker process; the target travels there in these.
_RELOAD_TARGET_ENV = "CHATKIT_SERVE_TARGET"
_RELOAD_STORE_ENV = "CHATKIT_SERVE_STORE"
_RELOAD_CONTEXT_ENV = "CHATKIT_SERVE_CONTEXT"
_RELOAD_POLICIES_ENV = "CHATKIT_SERVE_POLICIES"
LOCAL_USER = "local"


LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `chatkit` command with `argv` (default: `sys.argv[1:]`) and return its exit status."""
    try:
        parser = _parser(os.environ)
    except UsageError as error:
        print(f"chatkit: error: {error}", file=sys.stderr)
        return error.status
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args, list(sys.argv[1:] if argv is None else argv))
        if args.command == "demo":
            return _demo(args)
        if args.command in COMMANDS:
            return run_data_command(args)
        if args.command == "copy":
            return run_copy(args)
    except UsageError as error:
        if getattr(args, "log_level", None) in ("debug", "trace"):
            traceback.print_exception(error)
        print(f"chatkit: error: {error}", file=sys.stderr)
        return error.status
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def version() -> str:
    """The installed version of the chatkit-server distribution."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("chatkit-server")
    except PackageNotFoundError:
        return "unknown (not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse, reporting a bad argument in one line (the usage block hides it on a small terminal)."""

    def error(self, message: str) -> NoReturn:
        """Print `message` and a pointer to `--help`, then exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    """The command line; each option of `serve` and `demo` may also be set in `environ` (see `_from_environment`)."""
    parser = _Parser(prog="chatkit", description="Serve ChatKit servers over HTTP.")
    parser.add_argument("--version", action="version", version=f"chatkit-server {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve a ChatKitServer (instance or factory) with the playground, or your own ASGI app",
        description="Serve MODULE:ATTR, a ChatKitServer instance or a factory returning one, at /chatkit "
        "with the playground at /. With --store the factory is called with the store built from the URL. "
        "MODULE:ATTR may also name a Starlette or FastAPI app of your own (mounting chatkit.asgi.create_app), "
        "served as it is under the same limits, timeouts and drain.",
    )
    serve.add_argument("target", metavar="MODULE:ATTR", help="e.g. myapp.server:server or myapp.server:make_server")
    store = serve.add_argument("--store", metavar="URL", help="store URL, e.g. sqlite:///chat.db or postgresql://…")
    _from_environment(store, environ, "DATABASE_URL")
    context = serve.add_argument(
        "--context",
        metavar="MODULE:ATTR",
        help=f"function building the request context from the Starlette request (default: user {LOCAL_USER!r})",
    )
    _from_environment(context, environ)
    turn_policy = serve.add_argument(
        "--turn-policy",
        choices=("wait", "reject", "interrupt"),
        default="wait",
        help="a message to a thread whose turn runs (in any process): waits, is refused (409), or "
        "interrupts the turn (default: wait)",
    )
    _from_environment(turn_policy, environ)
    disconnect_policy = serve.add_argument(
        "--disconnect-policy",
        choices=("cancel", "finish", "grace"),
        default="cancel",
        help="when a client goes away mid-answer: cancel the turn, finish it, or wait --disconnect-grace "
        "seconds for a reload or another tab to rejoin it, else stop it as the client saw it "
        "(recommended: grace) (default: cancel)",
    )
    _from_environment(disconnect_policy, environ)
    disconnect_grace = serve.add_argument(
        "--disconnect-grace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="under --disconnect-policy grace, how long a turn whose client left waits for one to rejoin (default: 10)",
    )
    _from_environment(disconnect_grace, environ)
    retain_days = serve.add_argument(
        "--retain-days",
        type=float,
        metavar="N",
        help="delete threads nobody wrote to for N days, with their files, in an hourly background sweep "
        "(see chatkit retention) (default: keep everything)",
    )
    _from_environment(retain_days, environ)
    _add_bind_options(serve, environ)
    reload = serve.add_argument("--reload", action="store_true", help="restart when Python files change (development)")
    _from_environment(reload, environ)
    workers = serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve with N processes on the one port, restarted if they die, drained together on SIGTERM; "
        "more than one needs a PostgreSQL store, which they share (default: 1)",
    )
    _from_environment(workers, environ)
    # A worker of `--workers` serves the supervisor's listening socket, handed over by its number.
    serve.add_argument("--fd", type=int, help=argparse.SUPPRESS)

    demo = commands.add_parser(
        "demo",
        help="run the demo assistant and playground",
        description="Run the demo: an Agents SDK assistant (offline scripted model unless OPENAI_API_KEY is set) "
        "storing threads in ./chatkit-demo.db, with the playground at /.",
    )
    _add_bind_options(demo, environ)
    add_data_commands(commands, environ)
    add_copy_command(commands)
    return parser


def _add_bind_options(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    host = parser.add_argument("--host", default=DEFAULT_HOST, help=f"interface to bind (default: {DEFAULT_HOST})")
    _from_environment(host, environ)
    port = parser.add_argument(
        "--port", type=_port_argument, default=DEFAULT_PORT, help=f"port to bind (default: {DEFAULT_PORT})"
    )
    _from_environment(port, environ, "PORT")
    log_level = parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="server log level; 'debug' also prints the full cause of a startup error (default: info)",
    )
    _from_environment(log_level, environ)
    log_format = parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="'json' writes the access log (chatkit.access, with request ids and ChatKit request types), "
        "the server's and the package's records as one JSON object a line (default: text)",
    )
    _from_environment(log_format, environ)
    stopping = parser.add_argument_group("stopping (SIGTERM drains: readiness fails at once, turns finish)")
    drain_delay = stopping.add_argument(
        "--drain-delay",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long requests are still answered after SIGTERM, so the load balancer sees /readyz fail "
        "first and lets its idle connections go (default: 5)",
    )
    _from_environment(drain_delay, environ)
    drain_timeout = stopping.add_argument(
        "--drain-timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="how long after SIGTERM running turns may finish before they are stopped, partial answers "
        "saved (default: 20; with the delay and a 5 s backstop, Kubernetes' 30 s grace period)",
    )
    _from_environment(drain_timeout, environ)
    forwarded = parser.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="comma-separated addresses of the reverse proxies whose X-Forwarded-Proto and X-Forwarded-For "
        "are believed, or '*' (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1)",
    )
    _from_environment(forwarded, environ)
    limits = parser.add_argument_group("limits per client (see chatkit.asgi.ServeLimits)")
    for flag, kind, help_text in _LIMIT_OPTIONS:
        _from_environment(limits.add_argument(flag, type=kind, metavar="N", help=help_text), environ)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _from_environment(action: argparse.Action, environ: Mapping[str, str], *aliases: str) -> None:
    """Let an option default to `CHATKIT_<OPTION>` (else to one of `aliases`), named in its help; a flag still wins.

    A value the option would refuse on the command line is a `UsageError` naming the variable.
    """
    names = [f"CHATKIT_{action.option_strings[0][2:].upper().replace('-', '_')}", *aliases]
    action.help = f"{action.help} [env: {', '.join(names)}]"
    name = next((name for name in names if environ.get(name)), None)
    if name is None:
        return
    raw = environ[name]
    if action.nargs == 0:
        # A switch (--reload): the usual spellings of yes and no.
        if raw.lower() not in _TRUE | _FALSE:
            raise UsageError(f"{name} must be one of 1, true, yes, on, 0, false, no, off, not {raw!r}")
        action.default = raw.lower() in _TRUE
        return
    try:
        value = action.type(raw) if callable(action.type) else raw
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"{name} {error}") from error
    except ValueError as error:
        kind = {int: "a whole number", float: "a number"}.get(action.type, "a valid value")  # type: ignore[arg-type]
        raise UsageError(f"{name} must be {kind}, not {raw!r}") from error
    if action.choices is not None and value not in action.choices:
        raise UsageError(f"{name} must be one of {', '.join(map(str, action.choices))}, not {raw!r}")
    action.default = value


_LIMIT_OPTIONS: tuple[tuple[str, type, str], ...] = (
    ("--max-header-bytes", int, "largest request head (request line and headers), else 431 (default: 16384)"),
    ("--header-timeout", float, "seconds to send a complete request head (default: 10)"),
    ("--body-timeout", float, "longest pause in a request body, and its head start, in seconds (default: 30)"),
    ("--min-body-rate", int, "bytes per second a request body must average after its head start (default: 8192)"),
    ("--keep-alive-timeout", int, "seconds an idle connection stays open between requests (default: 5)"),
    ("--max-connections", int, "open connections at once; more are answered 503 (default: 2048)"),
)


def _run_uvicorn(
    app: Any,
    args: argparse.Namespace,
    drain: Drain | None = None,
    sockets: list[socket.socket] | None = None,
    **options: Any,
) -> None:
    """Serve with uvicorn under the limits given on the command line (`chatkit.asgi.uvicorn_config`).

    `drain` is the app's: the first SIGTERM or Ctrl-C drains it before the server stops.
    """
    from chatkit.asgi._serve import ServeLimits, run, uvicorn_config

    names = [flag[2:].replace("-", "_") for flag, _, _ in _LIMIT_OPTIONS]
    try:
        limits = ServeLimits(**{name: getattr(args, name) for name in names if getattr(args, name) is not None})
    except ValueError as error:
        raise UsageError(f"--{str(error).replace('_', '-')}") from error
    if args.forwarded_allow_ips is not None:
        options["forwarded_allow_ips"] = args.forwarded_allow_ips
    if args.log_format == "json":
        from chatkit.logger import json_logging_config

        # chatkit.access replaces uvicorn's own access line: it carries the request id and type.
        options.update(log_config=json_logging_config(args.log_level), access_log=False)
    run(uvicorn_config(app, limits=limits, host=args.host, log_level=args.log_level, **options), drain, sockets)


def _drain(args: argparse.Namespace) -> Drain:
    """The drain `--drain-delay` and `--drain-timeout` describe."""
    from chatkit.asgi import Drain

    try:
        return Drain(delay=args.drain_delay, timeout=args.drain_timeout)
    except ValueError as error:
        raise UsageError(f"--drain-delay and --drain-timeout: {error}") from error


def _is_port(value: str) -> bool:
    return value.isdigit() and 0 < int(value) < 65536


def _port_argument(value: str) -> int:
    if not _is_port(value):
        raise argparse.ArgumentTypeError(f"must be a TCP port number from 1 to 65535, not {value!r}")
    return int(value)


def check_port_free(host: str, port: int) -> None:
    """Raise `UsageError` unless `host:port` can be bound now (as uvicorn binds it, address reuse on)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise UsageError(f"--host: cannot resolve {host!r}: {error.strerror}") from error
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} on {host} is already in use; choose another with --port") from error
            if error.errno == errno.EACCES:
                raise UsageError(f"port {port} on {host} needs more privileges; choose a port above 1023") from error
            raise UsageError(f"cannot listen on {host}:{port}: {error.strerror}") from error


# -- serve --------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, argv: list[str]) -> int:
    _require_uvicorn()
    port = args.port
    if args.workers < 1:
        raise UsageError(f"--workers must be 1 or more, not {args.workers}")
    # Cheap checks first: a taken port or a dead database should not wait for the app's imports.
    if args.fd is None:
        check_port_free(args.host, port)
    if args.store:
        check_store(args.store)
    if args.workers > 1:
        return _supervise(args, argv)
    if args.disconnect_grace < 0:
        raise UsageError(f"--disconnect-grace must be seconds, zero or more, not {args.disconnect_grace:g}")
    if args.retain_days is not None and args.retain_days < 0:
        raise UsageError(f"--retain-days must be zero or more, not {args.retain_days:g}")
    policies = Policies(args.turn_policy, args.disconnect_policy, args.disconnect_grace, args.retain_days)
    if args.reload:
        # Fail here, with a clear message, rather than in every reloaded worker.
        build_app(args.target, args.store, args.context, policies)
        os.environ[_RELOAD_TARGET_ENV] = args.target
        os.environ[_RELOAD_STORE_ENV] = args.store or ""
        os.environ[_RELOAD_CONTEXT_ENV] = args.context or ""
        os.environ[_RELOAD_POLICIES_ENV] = policies.text()
        _run_uvicorn(
            "chatkit.cli:app_from_environment", args, factory=True, reload=True, reload_dirs=[os.getcwd()], port=port
        )
        return 0
    drain = _drain(args)
    app = build_app(args.target, args.store, args.context, policies, drain)
    if args.fd is not None:
        _run_uvicorn(app, args, drain, sockets=[socket.socket(fileno=args.fd)])
        return 0
    _run_uvicorn(app, args, drain, port=port)
    return 0


def _supervise(args: argparse.Namespace, argv: list[str]) -> int:
    """Run `args.workers` copies of this `chatkit serve` on one socket (see `chatkit._supervisor`)."""
    from chatkit._supervisor import Supervisor

    if args.reload:
        raise UsageError("--reload and --workers do not go together: reloading is for one development process")
    _require_shared_store(args)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    listener = socket.create_server((args.host, args.port), family=family)
    listener.set_inheritable(True)
    command = [sys.executable, "-m", "chatkit", *argv, "--workers", "1"]
    return Supervisor(command, listener, args.workers).run()


def _require_shared_store(args: argparse.Namespace) -> None:
    """Refuse workers that would each keep a store of their own: interrupts and rejoins need one database."""
    from starlette.applications import Starlette

    from chatkit.stores import PostgresStore

    if args.store:
        store = store_argument(args.store)
    else:
        loaded = load_target(args.target)
        if isinstance(loaded, Starlette):
            return  # an app of the user's own: what it stores where is theirs to know
        store = resolve_server(loaded, None).store
    if not isinstance(store, PostgresStore):
        raise UsageError(
            f"--workers {args.workers}: each worker is a process of its own, and a {type(store).__name__} "
            "lives in one process; give them a PostgreSQL store to share (--store postgresql://...)"
        )


@dataclass(frozen=True)
class Policies:
    """What a request finds when its thread is busy, what a turn does when its client leaves, and
    how long idle threads are kept (None: for ever)."""

    turn: str = "wait"
    disconnect: str = "cancel"
    grace: float = 10.0
    retain_days: float | None = None

    def text(self) -> str:
        """The policies as one line (how `--reload` hands them to its worker processes)."""
        retain_days = "" if self.retain_days is None else repr(self.retain_days)
        return f"{self.turn},{self.disconnect},{self.grace!r},{retain_days}"

    @classmethod
    def parse(cls, text: str) -> Policies:
        """The policies `text()` wrote; the defaults for an empty line."""
        if not text:
            return cls()
        turn, disconnect, grace, retain_days = text.split(",")
        return cls(turn, disconnect, float(grace), float(retain_days) if retain_days else None)


def build_app(
    target: str,
    store_url: str | None = None,
    context_target: str | None = None,
    policies: Policies | None = None,
    drain: Drain | None = None,
) -> Starlette:
    """The ASGI app `chatkit serve` runs: the server named by `target` at `/chatkit`, the playground at `/`.

    A `target` naming a ready Starlette or FastAPI app (one mounting `create_app`, say) is served as
    it is. `policies` are the turn and disconnect policies (`--turn-policy`, `--disconnect-policy`,
    `--disconnect-grace`).
    """
    from starlette.applications import Starlette

    from chatkit.playground import playground_app

    loaded = load_target(target)
    if isinstance(loaded, Starlette):
        # DATABASE_URL may well be set for the app itself, which opens its own store.
        for flag, value in (("--store", store_url), ("--context", context_target)):
            if value:
                print(f"chatkit: warning: {flag} is not used: {target} is a ready app", file=sys.stderr)
        return loaded
    store = store_argument(store_url) if store_url else None
    server = resolve_server(loaded, store)
    context = load_target(context_target) if context_target else local_context
    if not callable(context):
        raise UsageError(f"--context must name a function of the request, not a {type(context).__name__}")
    policies = policies or Policies()
    return playground_app(
        server,
        context=context,
        turn_policy=policies.turn,
        disconnect_policy=policies.disconnect,
        disconnect_grace=policies.grace,
        drain=drain,
        retention=_retention(server, policies.retain_days),
    )


def _retention(server: ChatKitServer[Any], days: float | None) -> RetentionSweeper | None:
    """The background sweep `--retain-days` asks for, over the server's store and attachment store."""
    if days is None:
        return None
    from chatkit.data import RetentionSweeper

    try:
        return RetentionSweeper(server.store, days, attachment_store=server.attachment_store)
    except TypeError as error:
        raise UsageError(f"--retain-days: {error}") from error


def local_context(request: Request) -> dict[str, Any]:
    """The request context without `--context`: a single local user, and the browser's preferred locale."""
    return {"user_id": LOCAL_USER, "locale": getattr(request.state, "locale", None)}


def app_from_environment() -> Starlette:
    """Build the app of a `chatkit serve --reload` worker from the targets its parent process passed on."""
    return build_app(
        os.environ[_RELOAD_TARGET_ENV],
        os.environ.get(_RELOAD_STORE_ENV) or None,
        os.environ.get(_RELOAD_CONTEXT_ENV) or None,
        Policies.parse(os.environ.get(_RELOAD_POLICIES_ENV) or ""),
    )


# -- demo ---------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    _require_uvicorn()
    port = args.port
    check_port_free(args.host, port)
    from chatkit.demo import create_demo_app

    print(f"ChatKit demo: open http://{args.host}:{port}/ in your browser", file=sys.stderr)
    drain = _drain(args)
    _run_uvicorn(create_demo_app(drain=drain), args, drain, port=port)
    return 0


def _require_uvicorn() -> Any:
    try:
        importlib.import_module("starlette")
        import uvicorn
    except ImportError as error:
        raise UsageError(
            f"{error.name} is missing; install the serve extra: pip install 'chatkit-server[serve]'"
        ) from error
    return uvicorn
