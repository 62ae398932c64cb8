"""Run the reliability and security campaign; write the figures to benchmarks/results/.

    .venv/bin/python -m benchmarks.campaign            # fast subset (a few minutes)
    .venv/bin/python -m benchmarks.campaign --full     # the published figures (docs/reliability.md)
    .venv/bin/python -m benchmarks.campaign --only fuzz --only badrequests

Exit code 0 when every part passed, 1 otherwise. The full-disk part mounts a small tmpfs and so
needs root; without it, it falls back to SQLite's max_page_count (import only) and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from . import backups, badrequests, fulldisk, fuzz, killcycles, load

FULL = {
    "fuzz_examples": 2000,
    "bad_requests": 10_000,
    "import_kills": 60,
    "sync_kills": 40,
    "load_peers": 10,
    "load_caseworkers": 20,
    "load_seconds": 300,
    "backups": 5,
}
FAST = {
    "fuzz_examples": 100,
    "bad_requests": 500,
    "import_kills": 5,
    "sync_kills": 3,
    "load_peers": 3,
    "load_caseworkers": 3,
    "load_seconds": 20,
    "backups": 2,
}
PARTS = ("fuzz", "badrequests", "killcycles", "fulldisk", "load", "backups")


def run_part(name: str, size: dict, root: Path) -> tuple[dict, bool]:
    folder = root / name
    folder.mkdir()
    if name == "fuzz":
        result = fuzz.run(size["fuzz_examples"])
        return result, True  # a failing property raises with its smallest example
    if name == "badrequests":
        result = badrequests.run(folder, size["bad_requests"])
        return result, badrequests.passed(result)
    if name == "killcycles":
        imports = killcycles.import_cycles(folder / "import", size["import_kills"])
        syncs = killcycles.sync_cycles(folder / "sync", size["sync_kills"])
        return {"import": imports, "sync": syncs}, killcycles.passed(imports, syncs)
    if name == "fulldisk":
        imports = fulldisk.import_full(folder / "import")
        syncs = fulldisk.sync_full(folder / "sync")
        return {"import": imports, "sync": syncs}, fulldisk.passed(imports, syncs)
    if name == "load":
        result = load.run(
            folder, size["load_peers"], size["load_seconds"], caseworkers=size["load_caseworkers"]
        )
        return result, load.passed(result)
    result = backups.run(folder, size["backups"])
    return result, result["all_ok"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.campaign",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--full", action="store_true", help="the full campaign (~20 minutes)")
    parser.add_argument("--only", action="append", choices=PARTS, help="run only these parts")
    parser.add_argument("--out", type=Path, help="write the JSON figures here")
    args = parser.parse_args(argv)
    size = FULL if args.full else FAST
    parts = args.only or list(PARTS)
    report = {
        "campaign": "full" if args.full else "fast",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "command": "python -m benchmarks.campaign " + " ".join(argv or sys.argv[1:]),
        "parameters": size,
        "parts": {},
    }
    ok = True
    with tempfile.TemporaryDirectory(prefix="tafuta-campaign-") as tmp:
        for name in parts:
            started = time.monotonic()
            print(f"== {name} …", file=sys.stderr, flush=True)
            result, passed = run_part(name, size, Path(tmp))
            result["passed"], result["wall_seconds"] = passed, round(time.monotonic() - started)
            report["parts"][name] = result
            ok &= passed
            print(f"== {name}: {'PASS' if passed else 'FAIL'} in {result['wall_seconds']} s",
                  file=sys.stderr, flush=True)  # fmt: skip
    report["passed"] = ok
    out = args.out or Path(__file__).resolve().parents[1] / "results" / (
        f"campaign-{report['campaign']}.json"
    )
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))
    print(f"figures written to {out}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
