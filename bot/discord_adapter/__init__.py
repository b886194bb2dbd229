"""The Discord side: the Bot subclass, rendering, and the presenter that edits replies.

The only part of `bot/` that imports discord.
"""
