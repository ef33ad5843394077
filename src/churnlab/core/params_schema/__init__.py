"""The schema of params.yaml: one pydantic model per section, one module per group of sections (sources, survival,
models, decisions; shared value types in `fields`). What each number means is said in params.yaml's comments.

Every model forbids unknown keys (a misspelt key is an error) and checks types strictly (1.5 and "5" are not whole
numbers, "0.5" is not a number, 1 is not true), ranges, and a few rules between the keys of one section that would
otherwise crash a stage late. `churnlab.core.params.validate_params` turns pydantic's errors into one sentence
each. The allowed values are copied from the stages, since core imports no other churnlab package: keep them in step.
"""

from pydantic import Field

from churnlab.core.params_schema.decisions import Monitor, Report, Retention, Score, Segment
from churnlab.core.params_schema.engine import Engine
from churnlab.core.params_schema.fields import Section, number
from churnlab.core.params_schema.models import Evaluate, Features, Register, Train
from churnlab.core.params_schema.sources import Base, Data, Simulate
from churnlab.core.params_schema.survival import Survival

__all__ = ["Params", "number"]


class Params(Section):
    """The whole file: one section per stage, plus `base` and `simulate` (read by the data stage)."""

    base: Base
    engine: Engine = Field(default_factory=Engine.local)  # absent: the local engine, as before it existed
    data: Data
    simulate: Simulate
    survival: Survival
    features: Features
    train: Train
    evaluate: Evaluate
    register_: Register = Field(alias="register")  # `register` is a method of every pydantic model
    retention: Retention
    segment: Segment
    score: Score
    monitor: Monitor
    report: Report
