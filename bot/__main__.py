"""`python -m bot` is the same as the `video-bot` command."""

from bot.cli import main

raise SystemExit(main())
