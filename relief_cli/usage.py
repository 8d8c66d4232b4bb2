"""Chinese help pages and usage errors for the command line.

click and typer print their own English texts ("Usage", "Options", "[required]",
"No such option"); an officer who reads only Chinese must see none of them. This
module renders a command's help from its parameters and turns click's usage
errors into one Chinese line. It works on click's objects by their attributes
and never imports typer, so cli.py stays the only module that does.
"""

from __future__ import annotations

import io
import re
import shutil
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

HELP_TEXT = "显示本帮助并退出。"
MIN_WIDTH, MAX_WIDTH = 60, 100


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def help_width() -> int:
    return max(MIN_WIDTH, min(MAX_WIDTH, shutil.get_terminal_size((80, 24)).columns))


def _is_argument(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "argument"


def _metavar(param: Any) -> str:
    """The Chinese placeholder declared in cli.py (metavar=...), with … for repeated arguments."""
    name = param.metavar or param.name.upper()
    return f"{name}…" if getattr(param, "nargs", 1) == -1 else name


def _shown_default(param: Any) -> str | None:
    if getattr(param, "show_default", None) is False or getattr(param, "is_flag", False):
        return None
    default = param.default
    if default is None or default == () or callable(default):
        return None
    return str(getattr(default, "value", default))


def _option_cells(param: Any, help_names: set[str]) -> tuple[str, str]:
    names = ", ".join(sorted([*param.opts, *param.secondary_opts], key=len))
    if set(param.opts) & help_names:
        return names, HELP_TEXT
    left = names if getattr(param, "is_flag", False) else f"{names} {_metavar(param)}"
    notes = []
    if param.required:
        notes.append("必填")
    default = _shown_default(param)
    if default is not None:
        notes.append(f"默认：{default}")
    text = (param.help or "") + (f"（{'；'.join(notes)}）" if notes else "")
    return left, text


def usage_line(command: Any, ctx: Any) -> str:
    path = ctx.command_path
    if hasattr(command, "commands"):
        return f"用法：{path} 命令 [选项]"
    pieces = ["[选项]"]
    for p in command.params:
        if _is_argument(p):
            pieces.append(_metavar(p) if p.required else f"[{_metavar(p)}]")
    return f"用法：{path} {' '.join(pieces)}"


def _two_columns(rows: list[tuple[str, str]]) -> Table:
    grid = Table.grid(padding=(0, 2), pad_edge=False)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for left, right in rows:
        grid.add_row(Text("  " + left), Text(right))
    return grid


def render_help(command: Any, ctx: Any, width: int | None = None) -> str:
    """The whole help page of a command or group, in Chinese, wrapped to the console width."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or help_width(), highlight=False, no_color=True, emoji=False,
                      legacy_windows=False, force_terminal=False)
    console.print(Text(usage_line(command, ctx)))
    if command.help:
        console.print()
        console.print(Text(command.help.strip()))
    help_names = set(ctx.help_option_names)
    params = command.get_params(ctx)
    arguments = [(_metavar(p), (p.help if hasattr(p, "help") and p.help else "") + ("（必填）" if p.required else ""))
                 for p in params if _is_argument(p)]
    options = [_option_cells(p, help_names) for p in params if not _is_argument(p) and not getattr(p, "hidden", False)]
    if arguments:
        console.print("\n参数：")
        console.print(_two_columns(arguments))
    if hasattr(command, "commands"):
        names = command.list_commands(ctx)
        rows = [(name, (command.get_command(ctx, name).help or "").strip().splitlines()[0]) for name in names]
        console.print("\n命令：")
        console.print(_two_columns(rows))
    if options:
        console.print("\n选项：")
        console.print(_two_columns(options))
    if hasattr(command, "commands"):
        console.print(Text(f"\n查看某个命令的用法：{ctx.command_path} 命令 -h"))
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines())


def _param_label(param: Any) -> str:
    if param is None:
        return ""
    if _is_argument(param):
        return _metavar(param).rstrip("…")
    return max(param.opts, key=len)


def usage_error_text(error: Any) -> str:
    """One Chinese sentence for a click usage error (click's English message is never shown;
    relief's own usage errors carry their Chinese text in `relief_text`)."""
    kind = type(error).__name__
    message = getattr(error, "message", "") or ""
    own = getattr(error, "relief_text", None)
    if own:
        return own.rstrip("。")
    if kind == "MissingParameter":
        param = getattr(error, "param", None)
        if param is not None and _is_argument(param):
            return f"缺少{_param_label(param)}"
        return f"缺少必填的选项 {_param_label(param)}" if param is not None else "缺少必填的选项"
    if kind == "NoSuchOption":
        text = f"没有选项 {error.option_name}"
        possibilities = list(getattr(error, "possibilities", None) or [])
        return text + (f"（是不是要用 {'、'.join(possibilities[:3])}）" if possibilities else "")
    if kind == "BadOptionUsage":
        if "does not take a value" in message:
            return f"选项 {error.option_name} 不需要值"
        return f"选项 {error.option_name} 后面缺少值"
    if kind == "BadParameter":
        return f"{_param_label(getattr(error, 'param', None))} 的值无效"
    extra = re.match(r"Got unexpected extra argument(?:s|\(s\))? \((.*)\)", message)
    if extra:
        return f"多余的参数：{extra.group(1)}"
    if message.startswith("Missing command"):
        return "缺少命令"
    return "命令用法有误"
