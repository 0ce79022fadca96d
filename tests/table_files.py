"""What the tests of a user's own table files share: writing a CSV as a user's program would, and the one line a
command prints where it refuses one."""

import csv


def write_csv(path, rows, header=None):
    """``rows`` (and a ``header`` row first, where given) written to ``path`` by Python's csv writer; the path."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if header is not None:
            w.writerow(header)
        w.writerows(rows)
    return path


def command_error(capsys, *words):
    """The command's refusal is one line holding each of ``words``, with no traceback."""
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
