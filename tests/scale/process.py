"""A `video-bot` command in a child process, pointed at a fake Discord.

Like tests/recovery/bot_process.py, with the command given: `run` or `worker`.
Usage: python -m tests.scale.process REST_BASE GATEWAY_URL COMMAND [options...]
"""

from __future__ import annotations

import sys

import discord.gateway
import discord.http
import yarl

from bot.terminal.cli import main

if __name__ == "__main__":
    rest_base, gateway_url, command, *options = sys.argv[1:]
    discord.http.Route.BASE = rest_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    raise SystemExit(main([command, *options]))
