"""`video-bot doctor`: check the configuration and what the Videos endpoint can do."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bot.config import Settings
from bot.engine import make_client, open_session
from bot.invite import application_id_from_token, invite_url
from bot.redaction import redact, strip_url_credentials
from bot.videos import (
    AuthenticationError,
    CapabilityMissingError,
    EndpointNotVideosError,
    JobLostError,
    NetworkError,
    VideosClient,
    VideosError,
)

RETIREMENT_NOTE = (
    "OpenAI retired its Videos API (/v1/videos) and the sora-2 models on 2026-09-24. "
    "Point OPENAI_BASE_URL at a server that speaks the same protocol "
    "(a LiteLLM proxy, SGLang, vLLM-Omni, ...) or try `video-bot fake-api` for a dry run."
)
_PROBE_ID = "video_doctor_probe_does_not_exist"


@dataclass
class Report:
    """Lines to print and whether everything needed works; secrets in them are redacted."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def good(self, text: str) -> None:
        self.lines.append(redact(f"ok    {text}"))

    def bad(self, text: str) -> None:
        self.lines.append(redact(f"FAIL  {text}"))
        self.ok = False

    def note(self, text: str) -> None:
        self.lines.append(redact(f"      {text}"))


def describe_configuration(settings: Settings, report: Report) -> None:
    catalogue = settings.catalogue()
    key = "set" if settings.openai_api_key else "not set (no Authorization header)"
    shown = strip_url_credentials(settings.openai_base_url)
    report.good(f"configuration: OPENAI_BASE_URL={shown}, OPENAI_API_KEY {key}")
    report.good(
        f"catalogue: {len(catalogue.models)} model(s), default {catalogue.default.name} "
        f"({catalogue.default.size_default}, {catalogue.default.seconds_default} s)"
    )


async def check_endpoint(settings: Settings, report: Report) -> None:
    """Reach the endpoint with calls that cost nothing: a list, or a status read."""
    if settings.base_url_is_openai:
        report.bad(f"endpoint: {RETIREMENT_NOTE}")
        return
    async with open_session() as session:
        client = make_client(session, settings)
        started = time.monotonic()
        try:
            await client.list(limit=1)
        except CapabilityMissingError:
            await _check_without_list(client, report)
        except AuthenticationError:
            report.bad("endpoint: the server rejected OPENAI_API_KEY")
        except EndpointNotVideosError as exc:
            report.bad(f"endpoint: {exc.hint}")
        except NetworkError as exc:
            shown = strip_url_credentials(settings.openai_base_url)
            report.bad(f"endpoint: cannot reach {shown} ({exc})")
        except VideosError as exc:
            report.bad(f"endpoint: unexpected answer: {exc}")
        else:
            took = (time.monotonic() - started) * 1000
            report.good(f"endpoint: GET /videos answered in {took:.0f} ms (Videos API)")
            report.good("capability: list (lets the bot reconcile a create with no answer)")
    report.note(
        "delete, remix and extensions are detected on first use "
        "(probing them would start billed jobs)"
    )


async def _check_without_list(client: VideosClient, report: Report) -> None:
    try:
        await client.retrieve(_PROBE_ID)
    except JobLostError:
        report.good("endpoint: GET /videos/{id} answers like a Videos API server")
        report.note(
            "capability: list is not served; a create whose answer is lost cannot be "
            "reconciled automatically"
        )
    except AuthenticationError:
        report.bad("endpoint: the server rejected OPENAI_API_KEY")
    except NetworkError as exc:
        report.bad(f"endpoint: cannot reach the server ({exc})")
    except VideosError as exc:
        report.bad(f"endpoint: does not look like a Videos API server ({exc})")
    else:
        report.good("endpoint: GET /videos/{id} answered")


def describe_discord(settings: Settings, report: Report) -> None:
    if settings.discord_token is None:
        report.note("DISCORD_TOKEN is not set: `video-bot run` needs it (see the README)")
        return
    application_id = application_id_from_token(settings.discord_token.get_secret_value())
    if application_id is None:
        report.bad("DISCORD_TOKEN does not look like a bot token")
        return
    report.good(f"Discord application {application_id}; invite the bot with:")
    report.note(invite_url(application_id))


async def run_doctor(settings: Settings) -> Report:
    report = Report()
    describe_configuration(settings, report)
    describe_discord(settings, report)
    await check_endpoint(settings, report)
    return report
