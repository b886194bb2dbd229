"""The `video-bot` command: run the bot, sync commands, dry-run tools and checks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.redaction import default_redactor, install_log_redaction

log = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="video-bot", description="A Discord bot that turns prompts into videos."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the Discord bot (needs DISCORD_TOKEN)")
    run.add_argument(
        "--demo",
        action="store_true",
        help="start the built-in fake Videos API in-process and use it (costs nothing)",
    )

    sync = sub.add_parser("sync", help="publish the slash commands to Discord")
    sync.add_argument("--guild", type=int, help="sync to one guild only (instant; for testing)")

    fake = sub.add_parser("fake-api", help="serve a fake Videos API for free dry runs")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8000)
    fake.add_argument(
        "--dialect",
        default="openai",
        help="openai, sglang, vllm_omni, trtllm, newapi or litellm",
    )
    fake.add_argument("--duration", type=float, default=20.0, help="seconds each job takes")
    fake.add_argument("--api-key", help="require this Bearer key (default: none)")

    gen = sub.add_parser("generate", help="make one video from the terminal")
    gen.add_argument("prompt")
    gen.add_argument("--model")
    gen.add_argument("--size")
    gen.add_argument("--seconds", type=int)
    gen.add_argument("--reference", type=Path, help="first-frame image (JPEG/PNG/WebP)")
    gen.add_argument("--out", type=Path, default=Path("video.mp4"))

    sub.add_parser("doctor", help="check the configuration and the Videos endpoint")

    jobs = sub.add_parser("jobs", help="list unfinished and recent jobs (for operators)")
    jobs.add_argument("--limit", type=int, default=20, help="how many recent jobs to show")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
    logging.getLogger().setLevel(settings.log_level)
    if command == "generate":
        return _generate(settings, args)
    if command == "doctor":
        return _doctor(settings)
    if command == "jobs":
        return _jobs(settings, args.limit)
    if command in ("run", "sync"):
        return _discord(settings, args)
    raise AssertionError(command)


def _fake_api(args: argparse.Namespace) -> int:
    from bot.fake_api import FakeSettings, serve_forever

    default_redactor.register(args.api_key)
    try:
        settings = FakeSettings(
            dialect=args.dialect, default_duration=args.duration, api_key=args.api_key
        )
    except ValueError as exc:
        print(f"video-bot fake-api: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(args.host, args.port, settings))
    return 0


def _generate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.generate import GenerateError, GenerateOptions, generate

    logging.getLogger().setLevel(logging.WARNING)  # the progress bar is the output
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
    from bot.doctor import run_doctor

    report = asyncio.run(run_doctor(settings))
    print("\n".join(report.lines))
    return 0 if report.ok else 1


def _jobs(settings: Settings, limit: int) -> int:
    from bot.job_listing import list_jobs
    from bot.store import StoreError

    try:
        print(asyncio.run(list_jobs(settings, limit)))
    except StoreError as exc:
        print(f"video-bot: {exc}", file=sys.stderr)
        return 2
    return 0


def _discord(settings: Settings, args: argparse.Namespace) -> int:
    if settings.discord_token is None:
        print(
            "video-bot: DISCORD_TOKEN is not set. Create an application at "
            "https://discord.com/developers/applications, copy its bot token into .env "
            "as DISCORD_TOKEN=..., then run `video-bot run` again.",
            file=sys.stderr,
        )
        return 2
    import discord

    from bot.discord_adapter.launcher import login_error_message, run_bot, sync_now
    from bot.store import StoreError

    try:
        if args.command == "sync":
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
    return 0
