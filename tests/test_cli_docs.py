"""``serve --help`` and the README's flag table describe the same flags.

Why: the two drifted (a flag without its default in ``--help``, env variables only one of
them knew). The help is what a process actually accepts, so it is read from the real CLI,
parsed, and compared with the table between ``<!-- flags:start -->`` and
``<!-- flags:end -->``: every flag in both, with the same metavar, env variable and default,
and every environment-only variable in both.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Documented:
    flag: str
    metavar: str | None
    env: str | None
    default: str


def _run(*args: str, columns: int = 80) -> str:
    env = {**os.environ, "COLUMNS": str(columns)}
    out = subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                         text=True, timeout=60, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _help_entries(text: str) -> tuple[dict[str, Documented], dict[str, str]]:
    """The flags of ``serve --help``, and its environment-only variables with defaults."""
    options, _, environment = text.partition("\nenvironment only:\n")
    options = options.split("\noptions:\n", 1)[1]
    entries: list[list[str]] = []
    for line in options.splitlines():
        if re.match(r"^  -", line):
            entries.append([line.strip()])
        elif line.strip():
            entries[-1].append(line.strip())
    flags: dict[str, Documented] = {}
    for first, *rest in entries:
        # argparse puts two spaces (or a line break) between the invocation and its help.
        invocation, _, help_start = first.partition("  ")
        names, _, metavar = invocation.partition(" ")
        if names.startswith("-h"):
            continue
        help_text = " ".join([help_start, *rest]).strip()
        found = re.search(r"\((?:env (\S+); )?default: ([^()]*)\)$", help_text)
        assert found, f"{names}: no (env ...; default: ...) at the end of: {help_text!r}"
        flags[names] = Documented(names, metavar or None, found.group(1), found.group(2))
    env_only: dict[str, str] = {}
    for found in re.finditer(r"^  (\w+): .*?\(default: ([^()]*)\)", environment, re.M | re.S):
        env_only[found.group(1)] = " ".join(found.group(2).split())
    return flags, env_only


def _cell(text: str) -> str:
    return " ".join(text.replace("`", "").split())


def _readme_table() -> tuple[dict[str, Documented], dict[str, str]]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- flags:start -->", 1)[1].split("<!-- flags:end -->", 1)[0]
    rows = [line for line in table.strip().splitlines() if line.startswith("|")]
    header = [_cell(c) for c in rows[0].strip("|").split("|")]
    assert header == ["flag", "env", "default", "meaning"], header
    flags: dict[str, Documented] = {}
    env_only: dict[str, str] = {}
    for row in rows[2:]:  # after the header and its |---| line
        flag, env, default = (_cell(c) for c in row.strip().strip("|").split("|")[:3])
        if not flag:
            env_only[env] = default
            continue
        name, _, metavar = flag.partition(" ")
        flags[name] = Documented(name, metavar or None, env or None, default)
    return flags, env_only


def test_serve_help_and_the_readme_flag_table_agree() -> None:
    help_flags, help_env_only = _help_entries(_run("serve", "--help"))
    readme_flags, readme_env_only = _readme_table()
    assert len(help_flags) >= 15  # the parser did find the flags
    assert sorted(help_flags) == sorted(readme_flags), "flags in only one of --help and README"
    for name, documented in help_flags.items():
        assert readme_flags[name] == documented, name
    assert help_env_only == readme_env_only


def test_help_reads_the_same_at_any_width() -> None:
    """Defaults such as ``revox-gateway.db`` and URLs are never split by wrapping."""
    assert _help_entries(_run("serve", "--help", columns=50)) == \
        _help_entries(_run("serve", "--help", columns=200))


def test_top_level_help_is_plain_text() -> None:
    text = _run("--help")
    assert "``" not in text and ":class:" not in text
    assert "serve" in text and "simulator" in text and "--version" in text
