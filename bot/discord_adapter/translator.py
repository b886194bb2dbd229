"""The command tree's translator: descriptions and choice names from the bot's catalogues.

discord.py asks it for every string of every command when it builds the payload it syncs, once
per Discord locale; what it returns becomes `description_localizations` and the choices'
`name_localizations`. Command, group and option names stay English everywhere, so docs, habits
and screenshots match in every language.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation, TranslationContextTypes, locale_str

from bot import i18n

# Names are typed: they stay what the docs say. Everything else a member reads is translated.
_KEPT_ENGLISH = frozenset(
    {
        TranslationContextLocation.command_name,
        TranslationContextLocation.group_name,
        TranslationContextLocation.parameter_name,
    }
)


class CatalogueTranslator(app_commands.Translator):
    async def translate(
        self, string: locale_str, locale: discord.Locale, context: TranslationContextTypes
    ) -> str | None:
        if context.location in _KEPT_ENGLISH:
            return None
        template = string.extras.get("template")
        if template is None:
            return i18n.translation_of(string.message, locale)
        # A description with a value in it (cogs/video.py's `filled`): the message id is the
        # template, filled again once translated.
        text = i18n.translation_of(str(template), locale)
        return None if text is None else text.format(**string.extras.get("params", {}))
