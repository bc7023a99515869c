#!/usr/bin/env python3
"""Writes the fcgi-pass-through(8) manual page (roff) to standard output.

    manpage.py BINARY BEHAVIOUR_MD

The synopsis, options, commands, signals and exit codes come from the binary's own
`--help`, `keys --help` and `usage --help`; the configuration keys from the tables of
docs/BEHAVIOUR.md (sections 1.2 and 1.3). So the page says what the packaged binary does
and never needs editing by hand. The date is SOURCE_DATE_EPOCH's when set (reproducible
builds), else today's.
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

NAME = "fcgi-pass-through"
DOCS = "/usr/share/doc/fcgi-pass-through"


# --- roff text -------------------------------------------------------------------


def escape(text: str) -> str:
    """Plain text as roff: backslashes, option dashes, non-ASCII as named glyphs."""
    text = text.replace("\\", "\\e")
    # A dash that starts an option or stands alone is a minus sign in roff (\-), so that
    # `man` prints an ASCII hyphen-minus one can copy; hyphens inside words stay.
    text = re.sub(r"(?<![\w/])--?(?=[A-Za-z\s]|$)", lambda m: m.group(0).replace("-", "\\-"), text)
    return "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)


def inline_markdown(text: str) -> str:
    """A Markdown table cell or help line as roff: `code` and **bold** bold, links as their text."""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = text.replace("\\|", "|")
    parts = re.split(r"(`[^`]+`|\*\*[^*]+\*\*)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"\\fB{escape(part[1:-1])}\\fR")
        elif part.startswith("**") and part.endswith("**") and len(part) > 3:
            out.append(f"\\fB{escape(part[2:-2])}\\fR")
        else:
            out.append(escape(part))
    return "".join(out)


def line(text: str) -> str:
    """A text line that cannot be mistaken for a request."""
    return "\\&" + text if text.startswith((".", "'")) else text


def term(text: str) -> str:
    """An option or command synopsis: names bold, arguments italic."""
    words = []
    for word in text.split(" "):
        core = word.rstrip(",")
        comma = word[len(core) :]
        if not core:
            continue
        if core.startswith("-") or re.fullmatch(r"[a-z][a-z-]*", core):
            words.append(f"\\fB{escape(core)}\\fR{comma}")
        elif re.fullmatch(r"[\[\]<>|]+", core):
            words.append(escape(core))
        else:
            # [--db PATH] and the like: brackets plain, the rest by the same rule.
            inner = re.match(r"^([\[<]*)(.*?)([\]>]*)$", core)
            lead, body, tail = inner.groups()
            if body.startswith("-"):
                styled = f"\\fB{escape(body)}\\fR"
            else:
                styled = f"\\fI{escape(body)}\\fR"
            words.append(f"{escape(lead)}{styled}{escape(tail)}{comma}")
    return " ".join(words)


# --- help text -------------------------------------------------------------------


def run(binary: str, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    result = subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=30)
    if result.returncode != 0:
        sys.exit(f"manpage.py: `{binary} {' '.join(args)}` exited {result.returncode}: {result.stderr}")
    return result.stdout


def blocks(text: str) -> list[list[str]]:
    """Paragraphs: runs of non-blank lines."""
    found, current = [], []
    for raw in text.splitlines():
        if raw.strip():
            current.append(raw.rstrip())
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


ITEM = re.compile(r"^( +)(\S.*?) {2,}(\S.*)$")


def items(lines: list[str]) -> list[tuple[int, str, str]]:
    """Indented `term  description` lines: (indent, term, description), continuations joined.

    A line is a continuation when it has no term, or starts exactly where the previous
    item's description does; a term indented otherwise is an item of its own (nested
    when deeper; an option's depth is where its long form starts).
    """
    found: list[tuple[int, str, str]] = []
    column = -1
    for raw in lines:
        match = ITEM.match(raw)
        indent = len(raw) - len(raw.lstrip(" "))
        if found and (match is None or indent == column):
            i, t, d = found[-1]
            found[-1] = (i, t, f"{d} {raw.strip()}")
            continue
        if match is None:
            continue
        # Options line up on their long form ("  -c, --config" beside "      --socket").
        level = raw.find("--") if match.group(2).startswith("-") and "--" in match.group(2) else indent
        found.append((level, match.group(2), match.group(3)))
        column = match.start(3)
    return found


def render_items(found: list[tuple[int, str, str]]) -> list[str]:
    out: list[str] = []
    levels = [found[0][0]] if found else []
    for indent, name, description in found:
        while indent < levels[-1]:
            levels.pop()
            out.append(".RE")
        if indent > levels[-1]:
            levels.append(indent)
            out.append(".RS")
        out += [".TP", term(name), line(inline_markdown(description))]
    out += [".RE"] * (len(levels) - 1)
    return out


def usage_lines(block: list[str]) -> list[str]:
    """`Usage: fcgi-pass-through ...` and its indented follow-ups, without the prefix."""
    return [re.sub(r"^(Usage:)?\s*", "", raw) for raw in block]


def synopsis(commands: list[str]) -> list[str]:
    out = []
    for command in commands:
        name, _, rest = command.partition(" ")
        out += [".HP", f"\\fB{escape(name)}\\fR {term(rest)}".rstrip()]
    return out


# --- BEHAVIOUR.md tables -------------------------------------------------------------


def table_after(markdown: str, heading: str) -> list[list[str]]:
    """The rows (cells) of the first table under the heading that starts with `heading`."""
    start = markdown.find(f"\n{heading}")
    if start < 0:
        sys.exit(f"manpage.py: no heading {heading!r} in BEHAVIOUR.md")
    rows = []
    for raw in markdown[start + 1 :].splitlines()[1:]:
        if raw.startswith("#"):
            break
        if raw.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", raw.strip())[1:-1]]
            rows.append(cells)
        elif rows:
            break
    if len(rows) < 3:
        sys.exit(f"manpage.py: no table under {heading!r} in BEHAVIOUR.md")
    return rows[2:]  # without the header and the --- row


def render_keys(rows: list[list[str]]) -> list[str]:
    out = []
    for key, default, meaning in rows:
        meaning = meaning if meaning.endswith(".") else meaning + "."
        out += [".TP", inline_markdown(key), line(inline_markdown(meaning)), ".br",
                line(f"Default: {inline_markdown(default)}.")]
    return out


# --- the page ------------------------------------------------------------------------


def page(binary: str, behaviour: Path) -> str:
    version = run(binary, "--version").split()[-1]
    main = blocks(run(binary, "--help"))
    keys = blocks(run(binary, "keys", "--help"))
    usage = blocks(run(binary, "usage", "--help"))
    markdown = behaviour.read_text()

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    date = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
            else datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%d")

    summary = next(" ".join(b) for b in main if not b[0].startswith((" ", "Usage:")) and ":" not in b[0][:20])
    options = next(b for b in main if b[0].startswith("  -"))
    facts = dict(
        (raw.split(":", 1)[0], raw.split(":", 1)[1].strip())
        for b in main
        for raw in b
        if re.match(r"^(Signals|Exit codes):", raw)
    )
    if set(facts) != {"Signals", "Exit codes"}:
        sys.exit(f"manpage.py: --help has no Signals: or Exit codes: line ({sorted(facts)})")

    commands = [
        ("keys", usage_lines(keys[0]), items(keys[1])),
        ("usage", usage_lines(usage[0]), items(usage[1])),
    ]

    out = [
        f'.TH {NAME.upper()} 8 "{date}" "{NAME} {version}" "System Administration"',
        # No hyphenation and a ragged right margin: names and paths stay whole.
        ".nh",
        ".ad l",
        ".SH NAME",
        f"{NAME} \\- pass-through gateway for AI and other HTTP APIs, served over FastCGI behind nginx",
        ".SH SYNOPSIS",
        *synopsis(usage_lines(main[0])),
        ".SH DESCRIPTION",
        line(escape(summary)),
        ".PP",
        "It implements LiteLLM Proxy's pass-through endpoints: routes declared in a",
        "LiteLLM-style \\fIconfig.yaml\\fR are forwarded byte for byte with the provider's",
        "secret headers injected, after the client's key was checked; answers stream back",
        "as they arrive. nginx terminates TLS and speaks FastCGI to the gateway over a",
        "Unix socket, which systemd holds (\\fBfcgi-pass-through.socket\\fR) and hands over",
        "on standard input.",
        ".SH OPTIONS",
        *render_items(items(options)),
        ".SH COMMANDS",
    ]
    for name, synopses, entries in commands:
        out += [".SS " + name, *synopsis(synopses), *render_items(entries)]
    out += [
        ".SH CONFIGURATION",
        "The file is LiteLLM Proxy's \\fIconfig.yaml\\fR; only \\fBgeneral_settings\\fR is read.",
        "A value may contain \\fBos.environ/\\fR\\fINAME\\fR references, resolved from the",
        "environment at start and on reload; the gateway refuses to start while a referenced",
        "variable is unset. Section numbers (\\[u00A7]) refer to",
        f"\\fI{DOCS}/BEHAVIOUR.md\\fR.",
        ".SS general_settings",
        *render_keys(table_after(markdown, "### 1.2 ")),
        ".SS Endpoints (general_settings.pass_through_endpoints[])",
        *render_keys(table_after(markdown, "### 1.3 ")),
        ".SH ENVIRONMENT",
        ".TP", "\\fBCONFIG_FILE_PATH\\fR", "The config file when \\fB\\-\\-config\\fR is not given.",
        ".TP", "\\fBLITELLM_MASTER_KEY\\fR", "The master key when the config names none.",
        ".TP", "\\fBSTATE_DIRECTORY\\fR",
        "Where the spend ledger \\fIusage.db\\fR is kept (systemd's \\fBStateDirectory=\\fR sets it).",
        ".TP", "\\fBFCGI_PASS_THROUGH_OPTS\\fR",
        "Options the systemd units add to the command line; set it in \\fIcommon.env\\fR.",
        ".SH SIGNALS",
        line(inline_markdown(facts.get("Signals", ""))),
        ".SH EXIT STATUS",
        line(inline_markdown(facts.get("Exit codes", ""))),
        ".SH FILES",
        ".TP", "\\fI/etc/fcgi-pass-through/config.yaml\\fR", "The routes; no secrets (group fcgi-pass-through, mode 0640).",
        ".TP", "\\fI/etc/fcgi-pass-through/common.env\\fR",
        "Secrets and \\fBFCGI_PASS_THROUGH_OPTS\\fR, read by systemd as root (mode 0600).",
        ".TP", "\\fI/var/lib/fcgi-pass-through/usage.db\\fR", "The spend ledger (SQLite), shared by every instance on the host.",
        ".TP", "\\fI/run/fcgi-pass-through/gateway.sock\\fR",
        "The socket \\fBfcgi-pass-through.socket\\fR holds. The template units",
        "(\\fBfcgi-pass-through@.socket\\fR, \\fB@.service\\fR) give each instance its own, \\fINAME\\fR\\fB.sock\\fR.",
        ".TP", "\\fI/etc/nginx/snippets/fcgi-pass-through.conf\\fR", "The locations to include in an nginx \\fBserver\\fR block.",
        ".TP", "\\fI/etc/nginx/conf.d/fcgi-pass-through-upstream.conf\\fR",
        "The \\fBupstream fcgi_pass_through\\fR block the snippet passes requests to.",
        ".TP", f"\\fI{DOCS}/\\fR",
        "INSTALL.md, OPERATIONS.md (sizing, upgrades, logs, metrics, troubleshooting),",
        "BEHAVIOUR.md, KEYS.md, USAGE.md, SECURITY.md and examples/nginx-site.conf.",
        ".SH SEE ALSO",
        "\\fBnginx\\fR(8), \\fBsystemctl\\fR(1), \\fBsystemd.socket\\fR(5), \\fBsystemd-sysusers\\fR(8),",
        "\\fBjournalctl\\fR(1)",
    ]
    return "\n".join(out) + "\n"


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    sys.stdout.write(page(sys.argv[1], Path(sys.argv[2])))


if __name__ == "__main__":
    main()
