"""`video-bot --help` and each `video-bot COMMAND --help`: every command and option explained,
every option with its default (or marked required)."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from bot.terminal.cli import build_parser, main


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """The parser and every (sub)command's parser under it, depth first, with their words."""
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(commands(sub, (*path, name)))
    return found


ALL = commands(build_parser())


def flat(text: str) -> str:
    return " ".join(text.split())


def help_of(words: tuple[str, ...]) -> str:
    """What `video-bot WORDS --help` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as ended:
        main([*words, "--help"])
    assert ended.value.code == 0
    return flat(out.getvalue())


def entries(text: str, parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each option's entry in the help's options section, by its first flag: from its flags
    (as argparse shows them, `--port PORT`) to the next option's."""
    section = text[text.index("options:") :]
    formatter = parser._get_formatter()
    starts = sorted(
        (section.index(formatter._format_action_invocation(action)), action.option_strings[0])
        for action in parser._actions
        if action.option_strings
    )
    ends = [position for position, _ in starts[1:]] + [len(section)]
    return {flag: section[start:end] for (start, flag), end in zip(starts, ends, strict=True)}


def test_there_is_something_to_walk() -> None:
    names = {" ".join(words) for words, _ in ALL}
    assert {"run", "worker", "sync", "fake-api", "generate", "doctor", "jobs"} <= names
    assert {"api-key create", "api-key list", "api-key revoke"} <= names


@pytest.mark.parametrize(("words", "parser"), ALL, ids=[" ".join(w) or "video-bot" for w, _ in ALL])
def test_every_command_and_option_is_described(
    words: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    text = help_of(words)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{' '.join(words)}: {action.dest} has no help"
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:  # each command, in the list of commands
                assert choice.help, f"{' '.join(words)} {choice.dest}: no help"
                assert flat(choice.help) in text
            continue
        if not action.option_strings:  # a positional: described, no default to show
            assert flat(action.help.split("%(")[0]) in text, action.dest
            continue
        shown = entries(text, parser)[action.option_strings[0]]
        what = f"{' '.join(words)} {action.option_strings[0]}: {shown!r}"
        if action.required or "(required: " in (action.help or ""):
            assert "required" in shown, what  # argparse's, or the command's own check
        elif action.default in (None, False, [], argparse.SUPPRESS):
            # Nothing argparse could print: the help says in words what happens without it.
            assert "(default: " in shown, what
            assert "(default: None)" not in shown, what
            assert "(default: [])" not in shown, what
        else:
            assert f"(default: {action.default})" in shown, what


def test_a_subcommand_says_what_it_does_at_the_top() -> None:
    text = help_of(("generate",))
    assert "make one video from the terminal" in text.lower()
