"""`python -m bot` is the same as the `video-bot` command."""

from bot.terminal.cli import main

raise SystemExit(main())
