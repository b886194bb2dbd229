"""The `video-bot` command: run the bot, sync commands, dry-run tools and checks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import ConfigError, Settings, load_settings
from bot.observability.redaction import default_redactor, install_log_redaction

if TYPE_CHECKING:
    from bot.domain import ApiKey

log = logging.getLogger("bot")

# Libraries log their own plumbing at INFO (discord.py's login and gateway lines, one per shard):
# above the bot's own lines, it hides what matters. VIDEO_BOT_LOG_LEVEL=DEBUG shows all again.
_LIBRARIES = ("discord", "aiohttp", "asyncio", "sqlalchemy", "aiosqlite")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help: the value, or `off` for a flag, or `(required)`.
    An option without a default value says in its own help what happens without it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if not action.option_strings or "(default: " in text or "(required" in text:
            return text
        if action.required:
            return f"{text} (required)"
        if action.default is False:
            return f"{text} (default: off)"
        if action.default in (None, [], argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    """A subcommand whose one-line help also heads its own --help."""
    return commands.add_parser(
        name,
        help=text,
        description=text[0].upper() + text[1:] + ".",
        formatter_class=_HelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="video-bot",
        description="A Discord bot that turns prompts into videos.",
        formatter_class=_HelpFormatter,
    )
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="what to do; `video-bot COMMAND --help` describes its options",
    )

    run = _command(sub, "run", "run the Discord bot (needs DISCORD_TOKEN)")
    run.add_argument(
        "--demo",
        action="store_true",
        help="start the built-in fake Videos API in-process and use it (costs nothing)",
    )
    run.add_argument(
        "--shard-count",
        metavar="N",
        help="Discord shards in all, over every process; overrides VIDEO_BOT_SHARD_COUNT "
        "(default: VIDEO_BOT_SHARD_COUNT, else as many as Discord asks for)",
    )
    run.add_argument(
        "--shard-ids",
        metavar="IDS",
        help="the shards this process connects, e.g. 0,1; needs --shard-count; overrides "
        "VIDEO_BOT_SHARD_IDS (default: VIDEO_BOT_SHARD_IDS, else all of them)",
    )

    _command(
        sub,
        "worker",
        "run jobs without a gateway connection, beside `run` (needs DISCORD_TOKEN and a "
        "PostgreSQL DATABASE_URL shared with it)",
    )
    sync = _command(sub, "sync", "publish the slash commands to Discord")
    sync.add_argument(
        "--guild",
        type=int,
        metavar="GUILD_ID",
        help="publish to this guild only: instant, for testing (default: every guild, which "
        "may take a while to show)",
    )

    fake = _command(sub, "fake-api", "serve a fake Videos API for free dry runs")
    fake.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    fake.add_argument("--port", type=int, default=8000, help="the port to listen on")
    fake.add_argument(
        "--dialect",
        default="openai",
        help="the real server to imitate: openai, sglang, vllm_omni, trtllm, newapi, litellm or "
        "openrouter (served under /api/v1)",
    )
    fake.add_argument("--duration", type=float, default=20.0, help="seconds each job takes")
    fake.add_argument(
        "--api-key", help="require this Bearer key (default: none, every request is served)"
    )
    fake.add_argument(
        "--webhook-url",
        metavar="URL",
        help="POST a callback here when a job ends; openrouter: unless the create names a "
        "callback_url (default: no callbacks)",
    )
    fake.add_argument(
        "--webhook-secret",
        metavar="SECRET",
        help="sign callbacks with it: openrouter's signing secret, or a whsec_ Standard "
        "Webhooks secret for the others (default: unsigned)",
    )

    gen = _command(sub, "generate", "make one video from the terminal")
    gen.add_argument("prompt", help="what the video shows")
    gen.add_argument(
        "--model", help="a model of the catalogue (default: the catalogue's default model)"
    )
    gen.add_argument(
        "--size", help="WIDTHxHEIGHT, e.g. 1280x720 (default: the model's default size)"
    )
    gen.add_argument(
        "--seconds", type=int, help="the video's length (default: the model's default length)"
    )
    gen.add_argument(
        "--reference",
        type=Path,
        help="a first-frame image (JPEG/PNG/WebP), fitted to the size (default: none)",
    )
    gen.add_argument("--out", type=Path, default=Path("video.mp4"), help="where to save it")

    _command(sub, "doctor", "check the configuration and each provider's Videos endpoint")

    models = _command(sub, "models", "list the video models a provider serves")
    models_sub = models.add_subparsers(
        dest="models_command", required=True, metavar="ACTION", help="what to do with models"
    )
    discover = _command(
        models_sub,
        "discover",
        "ask a provider for its video models, show them and optionally write them into a "
        "catalogue file (read-only at the provider; made for cron)",
    )
    discover.add_argument(
        "--provider",
        default="default",
        metavar="NAME",
        help="a [providers.NAME] of the catalogue, or default (OPENAI_BASE_URL)",
    )
    discover.add_argument(
        "--write",
        type=Path,
        metavar="FILE",
        help="refresh this catalogue file with the provider's models, keeping everything else "
        "in it (default: none, only the table is printed)",
    )
    discover.add_argument("--quiet", action="store_true", help="print no table")

    jobs = _command(sub, "jobs", "list unfinished and recent jobs (for operators)")
    jobs.add_argument("--limit", type=int, default=20, help="how many recent jobs to show")

    keys = _command(sub, "api-key", "issue, list and revoke keys for the HTTP API")
    key_sub = keys.add_subparsers(
        dest="key_command", required=True, metavar="ACTION", help="what to do with keys"
    )
    create = _command(key_sub, "create", "issue a key (shown once)")
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument(
        "--guild", required=True, metavar="GUILD_ID", help="the guild (server) it works in"
    )
    create.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="CHANNEL_ID",
        help="a channel the key may post in; repeat for several (required: at least one)",
    )
    create.add_argument(
        "--webhook-url",
        help="where job events are POSTed, http or https (default: none, no events are sent)",
    )
    create.add_argument(
        "--daily-budget",
        metavar="D",
        help="the key's spend per day in dollars, e.g. 5.00 (default: none of its own; the "
        "guild's budgets still apply)",
    )
    create.add_argument("--json", action="store_true", help="print one JSON object")
    listing = _command(key_sub, "list", "list the issued keys (never the keys themselves)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    revoke = _command(key_sub, "revoke", "stop a key at once")
    revoke.add_argument("id", metavar="ID", help="the key's id (key_...)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Credential shapes are hidden from the first line on; the configured secrets join once
    # the settings are read.
    install_log_redaction()
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"video-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "fake-api":
        return _fake_api(args)
    settings = load_settings()
    install_log_redaction(settings)
    _set_log_level(settings.log_level)
    if command == "models":  # the one command a catalogue without models is for
        return _models(settings, args)
    if not settings.catalogue().models:
        raise ConfigError(
            "VIDEO_BOT_CATALOGUE_FILE has no [[models]] yet: fill it with "
            "`video-bot models discover --provider NAME --write FILE`"
        )
    if command == "generate":
        return _generate(settings, args)
    if command == "doctor":
        return _doctor(settings)
    if command == "jobs":
        return _jobs(settings, args.limit)
    if command == "api-key":
        return _api_key(settings, args)
    if command in ("run", "sync", "worker"):
        return _discord(settings, args)
    raise AssertionError(command)


def _set_log_level(level: str) -> None:
    """The bot's own loggers at `level`; the libraries' at WARNING or above (all at DEBUG)."""
    logging.getLogger().setLevel(level)
    number = logging.getLevelNamesMapping()[level]
    for name in _LIBRARIES:
        logging.getLogger(name).setLevel(
            logging.DEBUG if number <= logging.DEBUG else max(number, logging.WARNING)
        )


def _fake_api(args: argparse.Namespace) -> int:
    from bot.fake_api import FakeSettings, serve_forever

    default_redactor.register(args.api_key)
    default_redactor.register(args.webhook_secret)
    try:
        settings = FakeSettings(
            dialect=args.dialect,
            default_duration=args.duration,
            api_key=args.api_key,
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
        )
    except ValueError as exc:
        print(f"video-bot fake-api: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_forever(args.host, args.port, settings))
    except OSError as exc:  # the socket could not be bound: nothing was served
        print(f"video-bot fake-api: {_cannot_listen(args.host, args.port, exc)}", file=sys.stderr)
        return 2
    return 0


def _cannot_listen(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another fake-api?); stop what holds it "
            "or choose another port with --port."
        )
    if error.errno == errno.EACCES:
        return (
            f"port {port} on {host} needs privileges this user lacks (ports below 1024 do); "
            "choose another with --port."
        )
    why = error.strerror or str(error)
    return f"cannot listen on {host} port {port} ({why}); check --host and --port."


def _generate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.terminal.generate import GenerateError, GenerateOptions, generate

    if settings.log_level != "DEBUG":
        # The progress line is the output, and a failure ends in its own line: a warning
        # logged on the way would only say the same thing twice.
        logging.getLogger().setLevel(logging.ERROR)
    options = GenerateOptions(
        prompt=args.prompt,
        out=args.out,
        model=args.model,
        size=args.size,
        seconds=args.seconds,
        reference=args.reference,
    )
    try:
        written = asyncio.run(generate(settings, options))
    except GenerateError as exc:
        print(f"video-bot generate: {exc}", file=sys.stderr)
        return 1
    print(f"saved {options.out} ({written} bytes)")
    return 0


def _doctor(settings: Settings) -> int:
    from bot.terminal.doctor import run_doctor

    report = asyncio.run(run_doctor(settings))
    print("\n".join(report.lines))
    return 0 if report.ok else 1


def _models(settings: Settings, args: argparse.Namespace) -> int:
    from bot.terminal.discover import DiscoverOptions, run_discover

    options = DiscoverOptions(provider=args.provider, write=args.write, quiet=args.quiet)
    return run_discover(settings, options)


def _jobs(settings: Settings, limit: int) -> int:
    from bot.service import StoreError
    from bot.terminal.jobs import list_jobs

    try:
        print(asyncio.run(list_jobs(settings, limit)))
    except StoreError as exc:
        print(f"video-bot: {exc}", file=sys.stderr)
        return 2
    return 0


def _discord(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "run":
        try:
            settings = _with_shard_options(settings, args.shard_count, args.shard_ids)
        except ValueError as exc:
            print(f"video-bot run: {exc}", file=sys.stderr)
            return 2
    if settings.discord_token is None:
        print(
            "video-bot: DISCORD_TOKEN is not set. Create an application at "
            "https://discord.com/developers/applications, copy its bot token into .env "
            "as DISCORD_TOKEN=..., then run `video-bot run` again.",
            file=sys.stderr,
        )
        return 2
    problem = _scale_out_problem(settings, args.command)
    if problem is not None:
        print(f"video-bot: {problem}", file=sys.stderr)
        return 2
    import aiohttp
    import discord

    from bot.discord_adapter.launcher import login_error_message, run_bot, run_worker, sync_now
    from bot.service import StoreError
    from bot.terminal.unreachable import why_unreachable

    try:
        if args.command == "worker":
            asyncio.run(run_worker(settings))
        elif args.command == "sync":
            count = asyncio.run(sync_now(settings, args.guild))
            where = f"guild {args.guild}" if args.guild else "all guilds (may take a while)"
            print(f"synced {count} command(s) to {where}")
        else:
            asyncio.run(run_bot(settings, demo=args.demo))
    except discord.LoginFailure as exc:
        print(f"video-bot: {login_error_message(exc)}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"video-bot: {exc}", file=sys.stderr)
        return 2
    except discord.PrivilegedIntentsRequired:
        print("video-bot: Discord refused the gateway intents.", file=sys.stderr)
        return 2
    except aiohttp.ClientConnectorError as exc:
        # Logging in is the first call to Discord; once connected, discord.py retries itself.
        print(
            f"video-bot: Discord cannot be reached ({why_unreachable(exc)}); check this "
            "machine's network connection, DNS, firewall or proxy, then try again.",
            file=sys.stderr,
        )
        return 1
    return 0


def _with_shard_options(
    settings: Settings, count_option: str | None, ids_option: str | None
) -> Settings:
    """`run --shard-count/--shard-ids` over the settings, checked as the settings are: a
    process told to connect a shard that cannot exist would fail deep inside discord.py."""
    if count_option is None and ids_option is None:
        return settings
    count, count_name = settings.shard_count, f"VIDEO_BOT_SHARD_COUNT={settings.shard_count}"
    if count_option is not None:
        text = count_option.strip()
        if not text.isdigit() or not 1 <= int(text) <= 100_000:
            raise ValueError(f"--shard-count must be a number of shards, 1 or more, got {text!r}")
        count, count_name = int(text), f"--shard-count {int(text)}"
    ids, ids_name = settings.shard_id_list, "VIDEO_BOT_SHARD_IDS"
    if ids_option is not None:
        parts = ids_option.replace(" ", "").split(",")
        if not all(part.isdigit() for part in parts):
            raise ValueError(
                f"--shard-ids must be shard numbers separated by commas, e.g. 0,1, "
                f"got {ids_option!r}"
            )
        ids, ids_name = [int(part) for part in parts], "--shard-ids"
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"--shard-ids lists shard {repeated[0]} twice")
    if ids is not None:
        if count is None:
            raise ValueError(f"{ids_name} needs --shard-count (the shards of all processes)")
        if max(ids) >= count:
            raise ValueError(
                f"{ids_name}: shard {max(ids)} does not exist with {count_name} "
                "(shards count from 0)"
            )
    return settings.model_copy(
        update={"shard_count": count, "shard_ids": ",".join(str(i) for i in ids or [])}
    )


def _scale_out_problem(settings: Settings, command: str) -> str | None:
    """Several processes share jobs through PostgreSQL only; say so before connecting."""
    if settings.shared_jobs:
        return None
    if command == "worker":
        return (
            "`video-bot worker` shares the jobs of `video-bot run` through PostgreSQL: set "
            'DATABASE_URL=postgresql://... for both (see the README\'s "Scaling out"). With '
            "SQLite, `video-bot run` runs the jobs itself."
        )
    if command == "run" and not settings.run_jobs:
        return (
            "VIDEO_BOT_RUN_JOBS=false leaves the jobs to `video-bot worker` processes, which "
            "need a PostgreSQL DATABASE_URL; with SQLite, `video-bot run` must run them."
        )
    return None


def _positive_id(text: str, what: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"{what} must be a number (a Discord id), got {text!r}") from None
    if value <= 0:
        raise ValueError(f"{what} must be a positive number (a Discord id), got {text!r}")
    return value


def _api_key(settings: Settings, args: argparse.Namespace) -> int:
    from bot.service import StoreError

    prog = f"video-bot api-key {args.key_command}"
    try:
        return asyncio.run(_api_key_command(settings, args))
    except ValueError as exc:  # an unusable argument: the message says which and why
        print(f"{prog}: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"video-bot: {exc}", file=sys.stderr)
        return 2


async def _api_key_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.service.keys import check_key_request, open_keys, parse_budget

    command: str = args.key_command
    if command == "create":  # everything is checked before the database is opened
        check_key_request(
            name=args.name,
            guild_id=_positive_id(args.guild, "--guild"),
            channels=[_positive_id(c, "--channel") for c in args.channel],
            webhook_url=args.webhook_url,
            daily_budget=None if args.daily_budget is None else parse_budget(args.daily_budget),
        )
        if not args.channel:
            raise ValueError(
                "name at least one --channel CHANNEL_ID the key may post in (repeat it for "
                "several); a key without one could post in every channel of its server, "
                "moderators-only ones included."
            )
    async with open_keys(settings) as store:
        if command == "create":
            key, plaintext = await store.create(
                name=args.name,
                guild_id=int(args.guild),
                channels=[int(c) for c in args.channel],
                webhook_url=args.webhook_url,
                daily_budget=None if args.daily_budget is None else parse_budget(args.daily_budget),
            )
            default_redactor.register(plaintext)
            # With --webhook-url, the key's one endpoint so far: its secret is shown now, once.
            hooks = await store.webhooks.list(key.id)
            webhook_secret = hooks[0].secret if hooks else None
            if webhook_secret is not None:
                default_redactor.register(webhook_secret)
            _print_created(key, plaintext, webhook_secret, as_json=args.json)
            return 0
        if command == "list":
            _print_keys(await store.list(), as_json=args.json)
            return 0
        if command == "revoke":
            found = await store.get(args.id)
            if found is None or not await store.revoke(args.id):
                print(
                    f"video-bot api-key revoke: no API key has the id {args.id!r}", file=sys.stderr
                )
                return 1
            if found.revoked_at is not None:
                print(f"{found.id} ({found.name}) was already revoked")
            else:
                print(f"revoked {found.id} ({found.name}): it is refused from now on")
            return 0
    raise AssertionError(command)


def _when(unix: float | None) -> str:
    import datetime

    if unix is None:
        return "-"
    return datetime.datetime.fromtimestamp(unix, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _print_created(
    key: ApiKey, plaintext: str, webhook_secret: str | None, *, as_json: bool
) -> None:
    if as_json:
        print(json.dumps({"key": plaintext, "webhook_secret": webhook_secret, "id": key.id}))
        return
    channels = ", ".join(str(c) for c in key.channels) or "none"
    print(f"Created API key {key.id} ({key.name}) for guild {key.guild_id}, channels: {channels}.")
    print(f"API key:                {plaintext}")
    if webhook_secret is not None:
        print(f"Webhook signing secret: {webhook_secret}")
    what = "both" if webhook_secret is not None else "it"
    print(
        f"Keep {what} somewhere safe now: shown only this once, never again (revoke the key and"
        " create a new one if it is lost; a webhook secret can be rotated with the key)."
    )


def _print_keys(keys: list[ApiKey], *, as_json: bool) -> None:
    # Keys issued before --channel was required may post anywhere in their server: loudly.
    for k in keys:
        if not k.channels and k.revoked_at is None:
            print(
                f"video-bot api-key list: warning: {k.id} ({k.name}) may post in any channel "
                f"of guild {k.guild_id}, moderators-only ones included; revoke it and create "
                "one with --channel.",
                file=sys.stderr,
            )
    if as_json:
        rows = [
            {
                "id": k.id,
                "name": k.name,
                "guild_id": k.guild_id,
                "channels": list(k.channels),
                "any_channel": not k.channels,
                "daily_budget": None if k.daily_budget is None else str(k.daily_budget),
                "created_at": k.created_at,
                "last_used_at": k.last_used_at,
                "revoked_at": k.revoked_at,
            }
            for k in keys
        ]
        print(json.dumps(rows, indent=2))
        return
    if not keys:
        print(
            "No API keys yet: `video-bot api-key create --name NAME --guild GUILD_ID "
            "--channel CHANNEL_ID`."
        )
        return
    header = ("id", "name", "guild", "channels", "created (UTC)", "last used (UTC)", "revoked")
    table = [header] + [
        (
            k.id,
            k.name,
            str(k.guild_id),
            ",".join(str(c) for c in k.channels) or "ANY CHANNEL (!)",
            _when(k.created_at),
            _when(k.last_used_at),
            _when(k.revoked_at),
        )
        for k in keys
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
