"""Running the CLI in-process against one index, for the CLI tests."""

from __future__ import annotations

import json

from pixseek import cli


def cli_runner(db, capsys, monkeypatch):
    """``run(*args)``: `pixseek ARGS --db DB` in this process -> (exit code, stdout lines, stderr)."""
    monkeypatch.setattr(cli, "quiet_libraries", lambda: None)
    capsys.readouterr()

    def run(*args):
        try:
            code = cli.main([*map(str, args), "--db", str(db)])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out.splitlines(), err
    return run


def json_lines(lines):
    return [json.loads(line) for line in lines]
