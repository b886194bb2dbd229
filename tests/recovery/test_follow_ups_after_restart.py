"""Follow-up buttons and modals keep working after the bot process restarts."""

from __future__ import annotations

from tests.discord_adapter.test_follow_ups import custom_id, private_text
from tests.discord_adapter.test_video_command import buttons, embed, finished
from tests.recovery.conftest import World
from tests.recovery.test_crash_recovery import video


async def test_buttons_and_an_open_modal_work_after_a_restart(world: World) -> None:
    await world.start_bot()
    it = await video(world, "a paper boat [duration=1]")
    source = await it.wait_for(lambda i: (m := finished(i)) and buttons(m) and m, timeout=30)
    await world.wait_states(["delivered"])
    # A member opens the Remix modal ... and the bot restarts before they submit it.
    remix = await world.discord.send_component_interaction(
        source, custom_id(source, "Remix"), world.member
    )
    await remix.wait_for(lambda i: bool(i.callbacks), timeout=10)
    assert remix.callbacks[0].type == 9
    assert await world.stop() == 0
    await world.start_bot()

    submit = await world.discord.submit_modal(remix, {"prompt": "a paper boat in the rain"})
    remixed = await submit.wait_for(finished, timeout=30)
    assert embed(remixed)["title"] == "Your video is ready"

    retry = await world.discord.send_component_interaction(
        source, custom_id(source, "Retry"), world.member
    )
    again = await retry.wait_for(finished, timeout=30)
    assert embed(again)["title"] == "Your video is ready"
    await world.wait_states(["delivered", "delivered", "delivered"])
    assert world.videos.stats.count("POST /v1/videos") == 2
    assert "Traceback" not in world.log()
    world.discord.assert_spec_clean()


async def test_a_server_the_operator_no_longer_allows_cannot_spend_through_old_buttons(
    world: World,
) -> None:
    """The operator drops the server from VIDEO_BOT_ALLOWED_GUILDS and restarts: its results'
    Retry button and a Remix modal left open are refused, and nothing is sent."""
    world.env["VIDEO_BOT_ALLOWED_GUILDS"] = str(world.guild.id)
    await world.start_bot()
    it = await video(world, "a paper boat [duration=1]")
    source = await it.wait_for(lambda i: (m := finished(i)) and buttons(m) and m, timeout=30)
    await world.wait_states(["delivered"])
    remix = await world.discord.send_component_interaction(
        source, custom_id(source, "Remix"), world.member
    )
    await remix.wait_for(lambda i: bool(i.callbacks), timeout=10)
    assert await world.stop() == 0
    world.env["VIDEO_BOT_ALLOWED_GUILDS"] = str(world.guild.id + 1)
    await world.start_bot()

    retry = await world.discord.send_component_interaction(
        source, custom_id(source, "Retry"), world.member
    )
    submit = await world.discord.submit_modal(remix, {"prompt": "a paper boat in the rain"})
    for refused in (retry, submit):
        said = await refused.wait_for(private_text, timeout=10)
        assert said == "This bot is not available in this server."
    assert world.videos.stats.count("POST /v1/videos") == 1
    assert "Traceback" not in world.log()
