"""The terminal front end: the `video-bot` command and its subcommands."""
