"""Chart of the README's query (average hours per status per team, last quarter in the data).

    make demo && .venv/bin/python scripts/chart.py     # writes docs/avg_hours_per_status.png

Runs `scripts/avg_hours_per_status.sql` on the demo's DuckDB file and draws one group of bars
per team, one bar per status.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import duckdb
import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
QUERY = ROOT / "scripts" / "avg_hours_per_status.sql"
WORKFLOW = ("In Progress", "In Review", "QA", "Done")


def main() -> None:
    """Query, draw, save."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", type=Path, default=ROOT / "output" / "sei.duckdb")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "avg_hours_per_status.png")
    args = parser.parse_args()
    with duckdb.connect(str(args.database), read_only=True) as db:
        rows = db.execute(QUERY.read_text()).fetchall()
    if not rows:
        raise SystemExit(f"no rows in {args.database}: run `make demo` first")
    hours: dict[str, dict[str, float]] = defaultdict(dict)
    for team, status, avg_hours, _ in rows:
        hours[team][status] = float(avg_hours or 0)
    teams = sorted(hours)
    found = {s for by_status in hours.values() for s in by_status}
    workflow = [s for s in WORKFLOW if s in found]
    statuses = workflow + sorted(found - set(workflow))  # workflow order, then the rest
    width = 0.8 / len(statuses)
    figure, axes = plt.subplots(figsize=(10, 5))
    for i, status in enumerate(statuses):
        axes.bar(
            [x + i * width for x in range(len(teams))],
            [hours[team].get(status, 0) for team in teams],
            width,
            label=status,
        )
    axes.set_xticks([x + width * (len(statuses) - 1) / 2 for x in range(len(teams))], teams)
    axes.set_ylabel("average hours per period")
    axes.set_title("Time in status per team, last quarter (sandbox demo data)")
    axes.legend(title="status")
    figure.tight_layout()
    args.out.parent.mkdir(exist_ok=True)
    figure.savefig(args.out, dpi=100)
    print(f"wrote {args.out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
