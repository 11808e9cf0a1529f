"""What every command-line refusal looks like (shared by the CLI tests)."""


def assert_cli_error(err: str, message: str = "") -> None:
    """``err`` (a command's stderr) holds exactly one ``rgflow: error: ...`` line, last, with
    ``message`` in it; any other line is an rgflow status line (first-use compilation,
    progress, a cache warning), never a traceback."""
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("rgflow: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert all(line.startswith("rgflow: ") for line in lines), err
    assert "Traceback" not in err and message in errors[0], err
