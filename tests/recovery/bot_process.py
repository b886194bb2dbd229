"""`video-bot run` in a child process, pointed at a fake Discord.

The only difference from production is the two documented discord.py seams (REST base URL and
gateway URL); everything else is the real command line entry point.
Usage: python -m tests.recovery.bot_process REST_BASE GATEWAY_URL [run options...]
"""

from __future__ import annotations

import sys

import discord.gateway
import discord.http
import yarl

from bot.terminal.cli import main

if __name__ == "__main__":
    rest_base, gateway_url, *options = sys.argv[1:]
    discord.http.Route.BASE = rest_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    raise SystemExit(main(["run", *options]))
