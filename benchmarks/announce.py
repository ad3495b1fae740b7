"""The real cleverward CLI, instrumented for interrupt tests: prints "row" on stdout after each
row lands in the output, and with CW_PAUSE_AFTER_ROWS=k waits for a line on stdin once k rows
have landed (so a test can act while this run holds its output, with no timing guesswork).

    python -m cleverward.benchmarks.announce score-dir DIR --prompts P --out F ...
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from cleverward.engine import output

    write = output.RowWriter.write
    pause_after = int(os.environ.get("CW_PAUSE_AFTER_ROWS", "0"))
    landed = 0

    def announce(self, row: dict) -> None:
        nonlocal landed
        write(self, row)
        landed += 1
        print("row", flush=True)
        if landed == pause_after:
            sys.stdin.readline()

    output.RowWriter.write = announce
    from cleverward.cli.app import main as cli

    cli()


if __name__ == "__main__":
    main()
