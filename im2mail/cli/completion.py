"""Static shell completions for bash, zsh and fish, generated from the CLI's command tree.

The scripts are plain shell, so pressing Tab never starts Python. Regenerate them after
changing the commands (tests/unit/test_completions.py fails until you do):

    python -m im2mail.cli.completion          # writes completions/im2mail.{bash,zsh,fish}
    python -m im2mail.cli.completion --check  # exit 1 if a file is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

PROG = "im2mail"
SHELLS = ("bash", "zsh", "fish")
OUT_DIR = Path(__file__).resolve().parents[2] / "completions"
_SAFE = re.compile(r"-{0,2}[A-Za-z0-9_][A-Za-z0-9_.+-]*")  # needs no quoting in any shell


@dataclass(frozen=True)
class Param:
    names: tuple[str, ...]  # ("-o", "--output") for an option, ("file",) for an argument
    help: str
    kind: str  # "flag", "text", "path" or "choice"
    choices: tuple[str, ...] = ()
    many: bool = False  # a variadic argument or a repeatable option

    @property
    def label(self) -> str:
        return self.names[-1].lstrip("-")


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]  # ("im2mail", "bot", "add")
    help: str
    options: tuple[Param, ...]
    arguments: tuple[Param, ...]
    subcommands: tuple[Command, ...]

    @property
    def key(self) -> str:
        return " ".join(self.path)

    def walk(self):
        yield self
        for sub in self.subcommands:
            yield from sub.walk()


def load(app=None) -> Command:
    """The command tree of a typer app (im2mail's by default), read without running it."""
    import typer

    if app is None:
        from . import app
    root = typer.main.get_command(app)
    return _command(root, typer.Context(root, info_name=PROG, **root.context_settings), (PROG,))


def _command(cmd, ctx, path: tuple[str, ...]) -> Command:
    import typer

    params = [p for p in cmd.get_params(ctx) if not getattr(p, "hidden", False)]
    options = [_param(p) for p in params if p.param_type_name == "option"]
    subs = sorted((getattr(cmd, "commands", None) or {}).items())
    return Command(
        path=tuple(_safe(word) for word in path),
        help=cmd.get_short_help_str(limit=80),
        options=tuple(sorted(options, key=lambda o: o.label)),
        arguments=tuple(_param(p) for p in params if p.param_type_name == "argument"),
        subcommands=tuple(
            _command(sub, typer.Context(sub, ctx, name, **sub.context_settings), (*path, name))
            for name, sub in subs
            if not sub.hidden
        ),
    )


def _param(p) -> Param:
    desc = getattr(p, "type_descriptor", None)  # typer >= 0.2x carries its own click copy
    if desc is not None:
        choices, is_path = desc.choices or (), desc.is_path or desc.is_file
    else:  # a click type
        choices, is_path = getattr(p.type, "choices", ()), type(p.type).__name__ in ("Path", "File")
    if p.param_type_name == "option":
        names = sorted([*p.opts, *p.secondary_opts], key=lambda n: (n.startswith("--"), n))
        takes_value = not (p.is_flag or getattr(p, "count", False))
    else:
        names, takes_value = [p.name], True
    kind = "choice" if choices else "path" if is_path else "text" if takes_value else "flag"
    return Param(
        names=tuple(_safe(n) for n in names),
        help=" ".join((getattr(p, "help", None) or "").split()),
        kind=kind,
        choices=tuple(_safe(str(getattr(c, "value", c))) for c in choices),
        many=p.nargs == -1 or bool(getattr(p, "multiple", False)),
    )


def _safe(word: str) -> str:
    if not _SAFE.fullmatch(word):
        raise ValueError(f"{word!r} needs shell quoting; teach im2mail/cli/completion.py first")
    return word


def _header(shell: str, install: str) -> list[str]:
    return [
        f"# {shell} completion for {PROG}. Generated from im2mail/cli/; do not edit.",
        "# Regenerate after changing the CLI: python -m im2mail.cli.completion",
        f"# Install: {install}",
        "",
    ]


# -- bash ------------------------------------------------------------------------------------

_BASH_ENGINE = """\
_im2mail() {
    local cur=${COMP_WORDS[COMP_CWORD]} command=im2mail word value="" npos=0 i
    [[ $cur == "=" ]] && cur=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == "=" ]]; then
            continue
        elif [[ -n $value ]]; then
            value=""
        elif [[ $word == -* ]]; then
            _im2mail_option_value "$command" "$word" >/dev/null && value=$word
        elif [[ -n $(_im2mail_subcommands "$command") ]]; then
            command="$command $word"
        else
            npos=$((npos + 1))
        fi
    done
    local kind  # what to offer: "words:a b c", "file" or "text" (nothing)
    if [[ -n $value ]]; then
        kind=$(_im2mail_option_value "$command" "$value")
    elif [[ $cur == -* ]]; then
        kind="words:$(_im2mail_options "$command")"
    elif [[ -n $(_im2mail_subcommands "$command") ]]; then
        kind="words:$(_im2mail_subcommands "$command")"
    else
        kind=$(_im2mail_argument "$command" "$npos")
    fi
    case $kind in
        words:*) mapfile -t COMPREPLY < <(compgen -W "${kind#words:}" -- "$cur") ;;
        file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
        *) COMPREPLY=() ;;
    esac
}

complete -F _im2mail im2mail
"""


def _bash_case(function: str, comment: str, subject: str, rows: dict[str, str]) -> str:
    body = "".join(f"        {pattern}) {action} ;;\n" for pattern, action in rows.items())
    return f"# {comment}\n{function}() {{\n    case {subject} in\n{body}    esac\n}}\n"


def _bash_kind(param: Param) -> str:
    return {"choice": "words:" + " ".join(param.choices), "path": "file"}.get(param.kind, "text")


def _bash(root: Command) -> str:
    subs, opts, values, args = {}, {}, {}, {}
    for c in root.walk():
        if c.subcommands:
            subs[f'"{c.key}"'] = f'echo "{" ".join(s.path[-1] for s in c.subcommands)}"'
        opts[f'"{c.key}"'] = f'echo "{" ".join(n for o in c.options for n in o.names)}"'
        for o in c.options:
            if o.kind != "flag":
                values[" | ".join(f'"{c.key} {n}"' for n in o.names)] = f'echo "{_bash_kind(o)}"'
        for i, a in enumerate(c.arguments):
            args[f'"{c.key}:"*' if a.many else f'"{c.key}:{i}"'] = f'echo "{_bash_kind(a)}"'
            if a.many:
                break  # click hands the words after a variadic argument out from the end
    values["*"] = "return 1"
    tables = [
        ("_im2mail_subcommands", "The sub-commands of command $1.", "$1", subs),
        ("_im2mail_options", "The options of command $1.", "$1", opts),
        ("_im2mail_option_value", "What option $2 of $1 takes, if any.", '"$1 $2"', values),
        ("_im2mail_argument", "What argument $2 (from 0) of $1 takes.", '"$1:$2"', args),
    ]
    install = f"source it in ~/.bashrc or copy it to /usr/share/bash-completion/completions/{PROG}"
    return "\n".join([*_header("bash", install), *(_bash_case(*t) for t in tables), _BASH_ENGINE])


# -- zsh -------------------------------------------------------------------------------------

_ZSH_END = """\
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _im2mail "$@"
else
    compdef _im2mail im2mail
fi
"""


def _zsh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _zsh_action(param: Param) -> str:
    return {"choice": f"({' '.join(param.choices)})", "path": "_files"}.get(param.kind, " ")


def _zsh_specs(command: Command) -> list[str]:
    specs = []
    for o in command.options:
        exclusive = "*" if o.many else f"({' '.join(o.names)})" if len(o.names) > 1 else ""
        text = re.sub(r"([\\\[\]])", r"\\\1", o.help)  # _arguments unescapes \\, \[ and \]
        for name in o.names:
            if o.kind == "flag":
                specs.append(f"{exclusive}{name}[{text}]")
            else:
                joiner = "=" if name.startswith("--") else "+"  # --opt=V or --opt V; -oV or -o V
                specs.append(f"{exclusive}{name}{joiner}[{text}]:{o.label}:{_zsh_action(o)}")
    for i, a in enumerate(command.arguments, 1):
        specs.append(f"{'*' if a.many else i}:{a.label}:{_zsh_action(a)}")
    if command.subcommands:
        specs += ["1:command:{_describe -t commands command commands}", "*::argument:->argument"]
    return [_zsh_quote(s) for s in specs]


def _zsh_name(command: Command) -> str:
    return "_" + "_".join(command.path).replace("-", "_")


def _zsh_function(command: Command) -> list[str]:
    call, subs = ["_arguments", *_zsh_specs(command)], command.subcommands
    lines = [f"{_zsh_name(command)}() {{"]
    if subs:
        call[0] += " -C"
        lines += [
            "    local curcontext=$curcontext state state_descr line",
            "    typeset -A opt_args",
        ]
        lines += ["    local -a commands", "    commands=("]
        lines += [f"        {_zsh_quote(f'{s.path[-1]}:{s.help}')}" for s in subs] + ["    )"]
    lines += [f"    {call[0]} \\", *(f"        {s} \\" for s in call[1:-1]), f"        {call[-1]}"]
    if subs:
        lines += [
            "    [[ $state == argument ]] || return 0",
            f"    curcontext=${{curcontext%:*:*}}:{'-'.join(command.path)}-$words[1]:",
            "    case $words[1] in",
            *(f"        {s.path[-1]}) {_zsh_name(s)} ;;" for s in subs),
            "    esac",
        ]
    return [*lines, "}", ""]


def _zsh(root: Command) -> str:
    install = "copy it as _im2mail into a directory on $fpath, or source it after compinit"
    lines = ["#compdef im2mail", *_header("zsh", install)]  # compinit reads the first line
    for command in root.walk():
        lines += _zsh_function(command)
    return "\n".join([*lines, _ZSH_END])


# -- fish ------------------------------------------------------------------------------------

_FISH_ENGINE = """\
# True when the command line up to the cursor is at command $argv[1]; given $argv[2],
# only if no option value is due and that many arguments are typed (N+: N or more).
function __im2mail_at
    set -l words (commandline -opc)
    set -e words[1]
    set -l command im2mail
    set -l npos 0
    set -l value 0
    for word in $words
        if test $value = 1
            set value 0
        else if string match -q -- '-*' $word
            contains -- "$command $word" $__im2mail_valued; and set value 1
        else if contains -- "$command $word" $__im2mail_commands
            set command "$command $word"
        else
            set npos (math $npos + 1)
        end
    end
    test "$command" = "$argv[1]"; or return 1
    set -q argv[2]; or return 0
    test $value = 0; or return 1
    if string match -q -- '*+' $argv[2]
        test $npos -ge (string trim -r -c + -- $argv[2])
    else
        test $npos = $argv[2]
    end
end
"""


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_value(param: Param, option: bool) -> str:
    """complete's flags for what a parameter takes (an option's value also needs -x or -r)."""
    if param.kind == "choice":
        return (" -x" if option else "") + f" -a {_fish_quote(' '.join(param.choices))}"
    if param.kind == "path":
        return (" -r" if option else "") + " -F"
    return " -x" if option and param.kind == "text" else ""


def _fish_flag(name: str) -> str:
    if name.startswith("--"):
        return f"-l {name[2:]}"
    return f"-s {name[1:]}" if len(name) == 2 else f"-o {name[1:]}"  # -o: old-style -long


def _fish_lines(command: Command) -> list[str]:
    at = f'complete -c im2mail -n \'__im2mail_at "{command.key}"'
    lines = [f"{at} 0' -a {s.path[-1]} -d {_fish_quote(s.help)}" for s in command.subcommands]
    for o in command.options:
        flags = " ".join(_fish_flag(n) for n in o.names)
        lines.append(f"{at}' {flags}{_fish_value(o, True)} -d {_fish_quote(o.help)}")
    for i, a in enumerate(command.arguments):
        if a.kind in ("choice", "path"):  # free text: nothing to offer
            lines.append(f"{at} {i}{'+' * a.many}'{_fish_value(a, False)} -d {_fish_quote(a.help)}")
    return [*lines, ""]


def _fish(root: Command) -> str:
    commands = list(root.walk())
    valued = [
        f"{c.key} {n}" for c in commands for o in c.options if o.kind != "flag" for n in o.names
    ]
    lines = [
        *_header("fish", f"copy it to ~/.config/fish/completions/{PROG}.fish"),
        "complete -c im2mail -e",
        "complete -c im2mail -f  # no file names unless a parameter is a path",
        "set -g __im2mail_commands " + " ".join(_fish_quote(c.key) for c in commands[1:]),
        "set -g __im2mail_valued " + " ".join(_fish_quote(v) for v in valued),
        "",
        _FISH_ENGINE,
    ]
    for command in commands:
        lines += _fish_lines(command)
    return "\n".join(lines)


# -- entry points ----------------------------------------------------------------------------


def generate(shell: str, app=None) -> str:
    """The completion script for `shell` ("bash", "zsh" or "fish"), for im2mail by default."""
    generators = {"bash": _bash, "zsh": _zsh, "fish": _fish}
    if shell not in generators:
        raise ValueError(f"unknown shell {shell!r}; choose from {', '.join(SHELLS)}")
    return generators[shell](load(app))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m im2mail.cli.completion", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report out-of-date files")
    args = parser.parse_args(argv)
    stale = 0
    for shell in SHELLS:
        target, text = OUT_DIR / f"{PROG}.{shell}", generate(shell)
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        stale += 1
        if args.check:
            print(
                f"{target} is out of date; run: python -m im2mail.cli.completion", file=sys.stderr
            )
        else:
            OUT_DIR.mkdir(exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="\n")
            print(f"wrote {target}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
