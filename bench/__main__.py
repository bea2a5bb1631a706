"""``make bench``: runs every benchmark module in this folder, one process each.

Each module prints a one-line summary as its last line and writes its full result as JSON
under ``bench/results/``. Benchmarks are never timed tests: they report, they don't fail on
a slow machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    only = set(sys.argv[1:])
    modules = sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))
    summaries: list[str] = []
    failed = 0
    for name in modules:
        if only and name not in only:
            continue
        print(f"== bench.{name}", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"],
            check=False,
            capture_output=True,
            text=True,
            cwd=HERE.parent,
        )
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr[-2000:])
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        summaries.append(
            f"{name}: " + (lines[-1] if lines else f"no output (rc {proc.returncode})")
        )
        failed += proc.returncode != 0
    print("\n== summary")
    for line in summaries:
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
