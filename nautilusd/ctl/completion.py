"""Shell completion for nautilusctl, generated from its argparse parser (bash and zsh).

What is completed: the subcommands, each one's options and the choices of its positional
arguments; after an option that takes a value, file names (the shell's default).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Final

SHELLS: Final = ("bash", "zsh")


@dataclass(frozen=True, kw_only=True, slots=True)
class Words:
    """What one parser level offers: its options, its positional choices, and the options
    that take a value (the word after one of those is not a subcommand)."""

    options: tuple[str, ...]
    choices: tuple[str, ...]
    valued: tuple[str, ...]


def words_of(parser: argparse.ArgumentParser) -> Words:
    options: list[str] = []
    choices: list[str] = []
    valued: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        options.extend(action.option_strings)
        if action.option_strings and action.nargs != 0:
            valued.extend(action.option_strings)
        if not action.option_strings and action.choices:
            choices.extend(str(c) for c in action.choices)
    return Words(options=tuple(options), choices=tuple(choices), valued=tuple(valued))


def subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, Words]]:
    """name -> (its one-line help, its words), in the parser's order."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help or "" for c in action._choices_actions}
    return {name: (helps.get(name, ""), words_of(sub)) for name, sub in action.choices.items()}


def _valued(parser: argparse.ArgumentParser) -> str:
    every = set(words_of(parser).valued)
    for _, words in subcommands(parser).values():
        every.update(words.valued)
    return "|".join(sorted(every))


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for `shell` (one of SHELLS)."""
    if shell == "bash":
        return bash_script(parser)
    if shell == "zsh":
        return zsh_script(parser)
    raise ValueError(f"no completion for shell {shell!r}; one of: {', '.join(SHELLS)}")


BASH_HEAD = """# bash completion for {prog}, generated from its parser: `{prog} completion bash`
_{prog}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local command="" i words
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            {valued}) ((i++)) ;;
            -*) ;;
            *) command="${{COMP_WORDS[i]}}"; break ;;
        esac
    done
    case "$prev" in
        {valued}) COMPREPLY=(); return ;;
    esac
    case "$command" in
"""
BASH_TAIL = """    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F _{prog} {prog}
"""


def bash_script(parser: argparse.ArgumentParser) -> str:
    prog, top, subs = parser.prog, words_of(parser), subcommands(parser)
    cases = [f'        "") words="{" ".join([*subs, *top.options])}" ;;']
    cases += [f'        {name}) words="{" ".join([*words.choices, *words.options])}" ;;'
              for name, (_, words) in subs.items()]
    cases.append('        *) words="" ;;')
    return (BASH_HEAD.format(prog=prog, valued=_valued(parser)) + "\n".join(cases) + "\n"
            + BASH_TAIL.format(prog=prog))


ZSH_HEAD = """#compdef {prog}
# zsh completion for {prog}, generated from its parser: `{prog} completion zsh`
_{prog}() {{
    local command="" i
    local -a commands
    commands=(
{commands}
    )
    for ((i = 2; i < CURRENT; i++)); do
        case "${{words[i]}}" in
            {valued}) ((i++)) ;;
            -*) ;;
            *) command="${{words[i]}}"; break ;;
        esac
    done
    case "${{words[CURRENT-1]}}" in
        {valued}) _files; return ;;
    esac
    case "$command" in
        "") _describe -t commands '{prog} command' commands; compadd -- {top} ;;
"""
ZSH_TAIL = """        *) _files ;;
    esac
}}
if [[ "${{funcstack[1]}}" == "_{prog}" ]]; then
    _{prog} "$@"
else
    compdef _{prog} {prog}
fi
"""


def _zsh_item(name: str, help_text: str) -> str:
    described = f"{name}:{help_text}".replace("'", "'\\''")
    return f"        '{described}'"


def zsh_script(parser: argparse.ArgumentParser) -> str:
    prog, subs = parser.prog, subcommands(parser)
    commands = "\n".join(_zsh_item(name, help_text.replace(":", "\\:"))
                         for name, (help_text, _) in subs.items())
    cases = [f"        {name}) compadd -- {' '.join([*words.choices, *words.options])} ;;"
             for name, (_, words) in subs.items()]
    head = ZSH_HEAD.format(prog=prog, commands=commands, valued=_valued(parser),
                           top=" ".join(words_of(parser).options))
    return head + "\n".join(cases) + "\n" + ZSH_TAIL.format(prog=prog)
