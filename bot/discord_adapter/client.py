"""The Bot subclass: owns the HTTP session and the video service, and renders its replies."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.catalogue import Catalogue, RequestRejected
from bot.config import Settings
from bot.discord_adapter.animate import PendingImages
from bot.discord_adapter.buttons import JobButton
from bot.discord_adapter.command_sync import sync_if_changed
from bot.discord_adapter.interactions import read_in_members_language
from bot.discord_adapter.mod_log import ModLog
from bot.discord_adapter.modals import handle_modal_submit
from bot.discord_adapter.presenter import DiscordPresenter
from bot.discord_adapter.reply import KIND, ChannelReply, ReplyAddress
from bot.discord_adapter.translator import CatalogueTranslator
from bot.discord_adapter.tree import VideoCommandTree
from bot.domain import ApiKey, GuildPolicy, JobSummary, ReplyHandle, ReplySink
from bot.http.server import WebServer, make_app
from bot.http.team_api import Place, TeamApi
from bot.http.webhooks import WebhookSender
from bot.i18n import _
from bot.media.fitting import VideoFitter
from bot.observability.metrics import Metrics
from bot.observability.redaction import default_redactor
from bot.service import (
    OpenStore,
    VideoService,
    build_service,
    make_providers,
    open_session,
    open_store,
)

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.video", "cogs.history", "cogs.admin", "cogs.animate")


class VideoBot(commands.AutoShardedBot):
    """A Discord bot that turns prompts into videos.

    Sharded always: with no shard settings discord.py asks Discord (`GET /gateway/bot`) how
    many shards to connect, one for small bots; `shard_count` and `shard_ids` split them over
    several `run` processes.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        demo: bool = False,
        serve: bool = True,
        worker: bool = False,
        store: OpenStore | None = None,
        **options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        metrics = Metrics()
        # Every request to Discord (edits, 429s) is counted; discord.py takes the trace here.
        options.setdefault("http_trace", metrics.discord_trace())
        if settings.shard_id_list is not None:  # a list, or no argument at all (= every shard)
            options["shard_ids"] = settings.shard_id_list
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=VideoCommandTree,
            help_command=None,
            # Nothing the bot posts pings anyone, whatever a prompt or a name contains.
            allowed_mentions=discord.AllowedMentions.none(),
            shard_count=settings.shard_count,  # None: as many as Discord asks for
            **options,
        )
        self.settings = settings
        self.catalogue: Catalogue = settings.catalogue()
        self.demo = demo
        # False for one-shot commands (`video-bot sync`): no auto-sync, no job resumption.
        self._serve = serve
        # `video-bot worker`: logged in over REST only, runs shared jobs, answers no command.
        self.worker = worker
        self._session: aiohttp.ClientSession | None = None
        self._store: OpenStore | None = store
        self._service: VideoService | None = None
        self.metrics = metrics
        self._fitter = VideoFitter(
            settings.ffmpeg, workers=settings.encode_workers, observe=metrics.video_fitted
        )
        self._web: WebServer | None = None
        self._webhooks: WebhookSender | None = None
        self._team_api: TeamApi | None = None
        self._shutdown: asyncio.Future[None] | None = None
        # Images of open "Animate this image" modals (see animate.PendingImages).
        self.pending_images = PendingImages()
        # Each server's mod-log channel, if its admins set one.
        self.mod_log = ModLog(self, self._policy)

    @property
    def service(self) -> VideoService:
        if self._service is None:
            raise RuntimeError("the bot is not set up yet")
        return self._service

    def presenter_for(self, handle: ReplyHandle) -> ReplySink:
        """Rebuild a reply's presenter from its stored handle (new or resumed job)."""
        if handle.secret:
            default_redactor.register(handle.secret)  # an interaction token: never in a log
        return DiscordPresenter(
            self,
            ReplyAddress.from_handle(handle),
            edit_interval=self.settings.edit_interval,
            demo=self.demo,
            fitter=self._fitter,
            policies=self._policy,
            moderation_log=self.mod_log,
            jobs=self._job,
            card=self.settings.card,
        )

    async def card_style(self, guild_id: int | None) -> str:
        """The result card's style in a server: its admins' choice, else the operator's."""
        chosen = (await self._policy(guild_id)).card
        return chosen if chosen in ("v2", "classic") else self.settings.card

    async def _policy(self, guild_id: int | None) -> GuildPolicy:
        return await self.service.policy(guild_id)

    async def _job(self, job_id: str) -> JobSummary | None:
        return await self.service.job(job_id)

    async def setup_hook(self) -> None:
        # The store first: a database that cannot be written stops start-up before any work.
        if self._store is None:
            self._store = await open_store(self.settings)
        self._session = open_session([self.metrics.provider_trace()])
        self._service = build_service(
            self.settings,
            self._store,
            make_providers(self._session, self.settings, self.catalogue),
            sinks={KIND: self.presenter_for},
            catalogue=self.catalogue,
            fitter=self._fitter,
        )
        service = self._service
        self.metrics.name_providers({p.base_url: p.name for p in service.provider_health()})
        self.metrics.watch(
            waiting=lambda: service.waiting,
            running=lambda: service.running,
            slots=lambda: service.slots,
            totals=service.totals_by_state,
            settled=service.settled_totals,
        )
        if self.worker:
            await self._service.start()
            self._start_team_api()  # its webhooks: jobs of API keys end here too
            await self._start_web()
            return
        self.add_dynamic_items(JobButton)
        await self.tree.set_translator(CatalogueTranslator())
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self._serve:
            await sync_if_changed(self.tree, self.settings.data_dir)
            await self._service.start()
            self._start_team_api()
            await self._start_web()

    def _start_team_api(self) -> None:
        """The HTTP API's state and the webhooks of the jobs its keys ask for."""
        self._webhooks = WebhookSender(
            self._require_session(), allow_private=self.settings.webhook_allow_private
        )
        self._team_api = TeamApi(self.service, self._place_for_key, webhooks=self._webhooks)

    async def _start_web(self) -> None:
        """Links to originals, `/healthz` and `/metrics` on the bot's own web server, when a
        port is configured."""
        settings = self.settings
        signer = self.service.link_signer
        if settings.web_port is None or signer is None:
            return
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        app = make_app(
            files=self.service.original_file,
            references=self.service.reference_image,
            signer=signer,
            health=self._health,
            registry=self.metrics.registry,
            metrics_token=token,
            before_metrics=self.metrics.refresh,
            # Providers' completion callbacks reach whichever process serves the web server;
            # the job's owner is woken wherever it runs.
            service=self.service,
            metrics=self.metrics,
        )
        if self._team_api is not None and not self.worker:
            self._team_api.add_routes(app)
        self._web = WebServer(app)
        await self._web.start(settings.web_host, settings.web_port)
        log.info(
            "web server on %s:%d (/healthz, /metrics%s)",
            settings.web_host,
            settings.web_port,
            ", links to originals" if settings.links_enabled else "",
        )

    async def _place_for_key(self, key: ApiKey, channel_id: int) -> Place:
        """Where a job asked for with an API key is shown: a message in one of its channels
        (the channel's parents count for the server's channel rules, as for a member)."""
        channel = self.get_channel(channel_id)
        guild = getattr(channel, "guild", None)
        if channel is None or not isinstance(guild, discord.Guild) or guild.id != key.guild_id:
            raise RequestRejected(
                f"Channel {channel_id} is not a channel of the key's server that the bot can see."
            )
        parents = (getattr(channel, "parent_id", None), getattr(channel, "category_id", None))
        channel_ids = frozenset({channel_id, *(p for p in parents if p is not None)})
        nsfw = getattr(channel, "is_nsfw", None)
        parent = getattr(channel, "parent", None)
        if parent is not None and hasattr(parent, "is_nsfw"):
            nsfw = parent.is_nsfw  # a thread is as age-restricted as its channel
        age_restricted = bool(nsfw()) if callable(nsfw) else False
        return Place(
            channel_ids,
            ChannelReply(self, channel_id, key.name, card=self.card_style),
            age_restricted,
        )

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the bot is not set up yet")
        return self._session

    async def _health(self) -> dict[str, bool]:
        """The loop answers (this runs), the store answers, the gateway is connected: every
        shard of this process, since a shard that is down loses its guilds' interactions."""
        store = await self.service.store_answers()
        if self.worker:  # no gateway to be connected to
            return {"loop": True, "store": store}
        shards_up = all(not shard.is_closed() for shard in self.shards.values())
        return {
            "loop": True,
            "store": store,
            "gateway": self.is_ready() and not self.is_closed() and shards_up,
        }

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Modal submits of the follow-ups (discord.py keeps no modal of ours in memory)."""
        if interaction.type is discord.InteractionType.modal_submit:
            read_in_members_language(interaction)
            try:
                await handle_modal_submit(self, interaction)
            except Exception:
                log.exception("a modal submit failed")
                if not interaction.response.is_done():
                    await interaction.response.send_message(
                        _("Something went wrong on the bot's side."), ephemeral=True
                    )

    async def on_ready(self) -> None:
        log.info("logged in as %s in %d guild(s)", self.user, len(self.guilds))

    async def close(self) -> None:
        """Let running jobs settle and stop, then close Discord, the HTTP session and the
        store. One shutdown, however often it is asked for (a signal, then the end of
        `async with`), and every caller waits for all of it: returning early would let the
        event loop end and cancel the store's connections mid-close."""
        if self._shutdown is None:
            # Awaited by every caller (not background work, so not `spawn`ed).
            self._shutdown = asyncio.ensure_future(self._close_everything())
        await asyncio.shield(self._shutdown)

    async def _close_everything(self) -> None:
        if self._web is not None:
            await self._web.stop()
        if self._webhooks is not None:
            await self._webhooks.close()  # events still being retried are dropped (logged)
        if self._service is not None:
            await self._service.close()
        await super().close()
        if self._session is not None:
            await self._session.close()
        if self._store is not None:
            await self._store.close()
