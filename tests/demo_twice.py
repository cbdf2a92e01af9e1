"""The demo run twice into one data directory, in a process of its own: the session fixture
``demo_twice`` (tests/conftest.py) starts it when the session starts, so that the tests go on
while the demo's Dagster runs start and finish, and the demo's readers find it done.

Usage: ``python tests/demo_twice.py DATA_DIR RESULT`` writes the pickled
`e2e_fixtures.DemoTwice` to RESULT (whole: renamed into place), or the error's traceback to
RESULT with ``.error`` appended, and then exits 1.
"""

import pickle
import sys
import traceback
from pathlib import Path

from conftest import DEMO_DAYS, DEMO_MESSAGES_PER_DAY
from e2e_fixtures import run_demo_twice


def main(data_dir: str, result: str) -> int:
    target = Path(result)
    try:
        demo = run_demo_twice(Path(data_dir), DEMO_DAYS, DEMO_MESSAGES_PER_DAY)
    except BaseException:
        Path(f"{result}.error").write_text(traceback.format_exc(), encoding="utf-8")
        return 1
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(pickle.dumps(demo))
    partial.replace(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
