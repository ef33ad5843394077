"""What the data source offers, from data/raw/source.json: the capabilities every stage decides by.

The `data` stage writes data/raw/source.json (`paths.SOURCE`): which source it read (simulator, contract, ledger or
snapshot) and what that source offers: a time axis (monthly tables; a snapshot file is one row per customer at one
date), churn events with a churn month (closures), past randomised retention campaigns, and a ground truth (only the
simulator's oracle). Stages and notebooks ask `read_source()` what they can do instead of comparing source names,
so a new source needs no change downstream. A stage that reads it lists `data/raw/source.json` in its dvc.yaml deps.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from churnlab.core import paths

NEEDS = ("time_axis", "campaigns", "oracle", "closures")


@dataclass(frozen=True)
class Source:
    """The data source of a pipeline run, as data/raw/source.json describes it."""

    name: str  # simulator | contract | ledger | snapshot
    time_axis: bool  # monthly tables over a window; False: one row per customer at a single date
    campaigns: bool  # past retention campaigns with a randomised control
    oracle: bool  # the true churn risk is known (simulated data only)
    closures: bool  # churn events with a churn month (a ledger without closures has none)

    @property
    def synthetic(self) -> bool:
        """The data are simulated (the only source with an oracle): ids are made up, not personal data."""
        return self.oracle

    @property
    def snapshot(self) -> bool:
        return not self.time_axis

    def lacks(self, *needs: str) -> str | None:
        """Why a section needing `needs` (of `NEEDS`) cannot run on this source, or None when it can.

        >>> Source("ledger", True, False, False, False).lacks("time_axis", "campaigns")
        'the ledger source records no retention campaigns'
        """
        unknown = [n for n in needs if n not in NEEDS]
        if unknown:
            raise ValueError(f"unknown need(s) {unknown}; a section can need {NEEDS}")
        reasons = {
            "time_axis": f"the {self.name} source is one row per customer at a single date, with no monthly history",
            "campaigns": f"the {self.name} source records no retention campaigns",
            "oracle": f"only simulated data has a known true churn risk, and the {self.name} source is not simulated",
            "closures": f"the {self.name} source records no churn events with a churn month",
        }
        return next((reasons[n] for n in needs if not getattr(self, n)), None)

    def describe(self) -> str:
        """One line for the top of a notebook: the source and what it offers."""
        shape = "monthly tables" if self.time_axis else "one row per customer at a single date"
        campaigns = "past retention campaigns" if self.campaigns else "no retention campaigns"
        truth = "the true churn risk known" if self.oracle else "no ground truth"
        return f"Data source: {self.name} ({shape}; {campaigns}; {truth})"


def read_source(path: Path | str = paths.SOURCE) -> Source:
    """The `Source` in data/raw/source.json; FileNotFoundError saying which stage writes it when it is missing."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the `data` stage writes it (dvc repro data)")
    payload = json.loads(path.read_text(encoding="utf-8"))
    return Source(name=payload["source"], time_axis=bool(payload["time_axis"]),
                  campaigns=bool(payload["campaigns"]), oracle=bool(payload["oracle"]),
                  closures=bool(payload.get("closures", payload["time_axis"])))
