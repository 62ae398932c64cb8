"""Regenerate golden_keys.json after an intended change of the key set (with a new
KEYSET_VERSION): ``.venv/bin/python tests/matching/make_golden.py``.

The golden vectors pin what every key type computes on the sample register, so that a change
that would stop two nodes' keys from meeting cannot slip in unnoticed (test_keys.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from matching import KEY_TYPES, KEYSET_VERSION, load_lexicon, match_keys, normalise  # noqa: E402
from node.records.linking import read_canonical_records  # noqa: E402

SOURCE = "node/samples/sample-register.csv"
GOLDEN = Path(__file__).resolve().parent / "golden_keys.json"


def main() -> None:
    lexicon = load_lexicon()
    records = read_canonical_records(ROOT / SOURCE)
    golden = {
        "keyset": KEYSET_VERSION,
        "key_types": list(KEY_TYPES),
        "source": SOURCE,
        "keys": {
            r["ref"]: [list(k) for k in match_keys(normalise(r, lexicon))]
            for r in records
            if r["kind"] in ("missing", "found")
        },
    }
    GOLDEN.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(
        f"wrote {GOLDEN.relative_to(ROOT)}: key set {KEYSET_VERSION}, {len(golden['keys'])} records"
    )


if __name__ == "__main__":
    main()
