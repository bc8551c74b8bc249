"""Helpers shared by the command-line tests (imported as a module beside them)."""

from rnnkit.cli import main as cli


def run_cli(argv, capsys):
    """cli.main(argv) -> (exit status, stdout, stderr)."""
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str, command: str) -> str:
    """The one ``rnnkit <command>: error:`` line of ``err`` (and no traceback)."""
    lines = [line for line in err.splitlines() if f"rnnkit {command}: error:" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]
