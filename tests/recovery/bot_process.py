"""`video-bot run` in a child process, pointed at a fake Discord.

The only difference from production is the two documented discord.py seams (REST base URL and
gateway URL); everything else is the real command line entry point. With ``CLOCK_AHEAD=SECONDS``
in its environment the process's wall clock (``time.time``) runs that far ahead, as if it had
been down that much longer.
Usage: python -m tests.recovery.bot_process REST_BASE GATEWAY_URL [run options...]
"""

from __future__ import annotations

import os
import sys
import time

if __name__ == "__main__":
    ahead = float(os.environ.get("CLOCK_AHEAD", "0"))
    if ahead:  # before the bot's modules take a reference to it
        real_time = time.time
        time.time = lambda: real_time() + ahead

    import discord.gateway
    import discord.http
    import yarl

    from bot.terminal.cli import main

    rest_base, gateway_url, *options = sys.argv[1:]
    discord.http.Route.BASE = rest_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    raise SystemExit(main(["run", *options]))
