"""The params.yaml schema: the repository's file fits it, and each bad value gives one known sentence."""

import copy

import pytest
from conftest import PROFILE, ROOT, deep_merge
from ruamel.yaml import YAML

from churnlab.core.params import ParamsError, validate_params
from churnlab.core.params_schema import Params


def read(path) -> dict:
    """A YAML file read as load_params reads it (YAML 1.2)."""
    with open(path, encoding="utf-8") as fh:
        return YAML(typ="safe", pure=True).load(fh)


@pytest.fixture(scope="module")
def repository() -> dict:
    return read(ROOT / "params.yaml")


def problems(params: dict, **options) -> list[str]:
    """The lines of the ParamsError `params` raise (fails the test when they validate)."""
    with pytest.raises(ParamsError) as raised:
        validate_params(params, **options)
    return str(raised.value).splitlines()


def with_value(params: dict, dotted: str, value) -> dict:
    """A deep copy of `params` with the key at `dotted` (e.g. "train.tune.n_trials") set to `value`."""
    edited = copy.deepcopy(params)
    *sections, key = dotted.split(".")
    target = edited
    for section in sections:
        target = target[section]
    target[key] = value
    return edited


def test_the_repository_params_fit_the_schema_key_for_key(repository):
    """complete=True: no key of params.yaml is unknown to the schema, and no key of the schema is missing."""
    assert validate_params(repository, complete=True) is repository


def test_the_test_profile_merged_into_the_params_fits(repository):
    merged = deep_merge(repository, read(PROFILE))
    assert validate_params(merged, complete=True) == merged


def test_the_schema_has_one_model_per_section(repository):
    assert [field.alias or name for name, field in Params.model_fields.items()] == list(repository)


@pytest.mark.parametrize(("dotted", "value", "sentence"), [
    ("base.horizon_months", -1, "base.horizon_months = -1: must be >= 1"),
    ("base.horizon_months", 0, "base.horizon_months = 0: must be >= 1"),
    ("base.horizon_months", "abc", 'base.horizon_months = "abc": must be a whole number >= 1'),
    ("base.horizon_months", 1.5, "base.horizon_months = 1.5: must be a whole number >= 1"),
    ("base.horizon_months", True, "base.horizon_months = true: must be a whole number >= 1"),
    ("base.seed", "abc", 'base.seed = "abc": must be a whole number >= 0'),
    ("simulate.n_customers", 0, "simulate.n_customers = 0: must be >= 1"),
    ("train.tune.n_trials", 0, "train.tune.n_trials = 0: must be >= 1"),
    ("data.source", "excel", 'data.source = "excel": must be simulator, contract, snapshot or ledger'),
    ("train.calibration", "sigmoid", 'train.calibration = "sigmoid": must be isotonic or platt'),
    ("register.metric", "auc", 'register.metric = "auc": must be roc_auc, pr_auc, empc, log_loss or brier'),
    ("features.churn.definition", "closed",
     'features.churn.definition = "closed": must be closure, dormancy, value or partial'),
    ("data.tenure_unit", "days", 'data.tenure_unit = "days": must be years or months'),
    ("evaluate.top_share", 1.0, "evaluate.top_share = 1.0: must be > 0 and < 1"),
    ("monitor.alpha", "0.01", 'monitor.alpha = "0.01": must be a number > 0 and < 1'),
    ("monitor.auc_band_rows", 0, "monitor.auc_band_rows = 0: must be >= 1"),
    ("monitor.auc_band_rows", -100, "monitor.auc_band_rows = -100: must be >= 1"),
    ("retention.save_rate", 1.5, "retention.save_rate = 1.5: must be >= 0 and <= 1 or null"),
    ("train.max_train_rows", 0, "train.max_train_rows = 0: must be >= 1 or null"),
    ("simulate.base_monthly_hazard", float("nan"), "simulate.base_monthly_hazard = .nan: must be a finite number "
                                                   "> 0 and < 1"),
    ("survival.km.times", 12, "survival.km.times = 12: must be a list"),
    ("data.drop", ["Surname", ""], 'data.drop[1] = "": must not be empty'),
    ("simulate.start_month", "2021-01-30", 'simulate.start_month = "2021-01-30": must be the last day of a month, '
                                           "YYYY-MM-DD"),
    ("data.as_of", "31.01.2000", 'data.as_of = "31.01.2000": must be a date written YYYY-MM-DD'),
    ("survival.models", ["cox", "coxx"], 'survival.models[1] = "coxx": must be cox, weibull, lognormal, '
                                         "loglogistic or xgboost"),
])
def test_a_bad_value_gives_one_sentence_naming_it(repository, dotted, value, sentence):
    assert problems(with_value(repository, dotted, value)) == [f"params.yaml: {sentence}"]


def test_a_misspelt_key_is_named_with_the_key_it_resembles(repository):
    params = copy.deepcopy(repository)
    params["train"]["tune"]["n_trails"] = params["train"]["tune"].pop("n_trials")
    expected = "params.yaml: train.tune.n_trails: unknown parameter (did you mean n_trials?)"
    assert problems(params) == [expected]
    assert problems(params, complete=True) == ["params.yaml: train.tune.n_trials: missing", expected]


def test_an_unknown_section_or_key_without_a_close_match_lists_what_is_allowed(repository):
    params = copy.deepcopy(repository)
    params["trian"] = params.pop("train")
    params["base"]["colour"] = "blue"
    assert problems(params) == ["params.yaml: base.colour: unknown parameter (allowed: seed, horizon_months)",
                                "params.yaml: trian: unknown parameter (did you mean train?)"]


def test_every_problem_is_reported_at_once_in_the_given_source(repository):
    params = with_value(with_value(repository, "base.horizon_months", -1), "data.source", "excel")
    assert problems(params, source="exp/params.yaml") == [
        "exp/params.yaml: base.horizon_months = -1: must be >= 1",
        'exp/params.yaml: data.source = "excel": must be simulator, contract, snapshot or ledger']


def test_the_message_is_ours_not_pydantics(repository):
    message = "\n".join(problems(with_value(repository, "score.grades.shares", "many")))
    assert "pydantic" not in message and "Input should" not in message and "http" not in message


def test_a_partial_file_is_checked_for_what_it_holds():
    """Stage tests write only the sections and keys they need: missing ones are problems only when complete."""
    partial = {"base": {"seed": 1}, "data": {"source": "simulator", "as_of": "2000-01-31"}}
    assert validate_params(partial) == partial
    assert problems(partial, complete=True)[:2] == ["params.yaml: base.horizon_months: missing",
                                                     "params.yaml: data.tables: missing"]


def test_a_file_that_is_not_a_mapping():
    assert problems([1, 2]) == ["params.yaml: the file holds [1, 2]: must be a mapping (key: value lines)"]


# --- rules between keys ------------------------------------------------------------------------------------------

def test_the_promotion_and_the_campaigns_fall_inside_the_simulated_window(repository):
    params = with_value(repository, "simulate.shock_month", 48)  # n_months is 48: months 0..47
    params["simulate"]["campaign_months"] = [12, 48]
    assert problems(params) == ["params.yaml: simulate.shock_month = 48: must be < simulate.n_months (48)",
                                "params.yaml: simulate.campaign_months = [12, 48]: every value must be < "
                                "simulate.n_months (48)"]
    assert validate_params(with_value(repository, "simulate.shock_month", 47))


def test_the_churn_flag_values_must_differ_as_text(repository):
    params = with_value(with_value(repository, "data.positive", "1"), "data.negative", 1.0)
    sentence = "data.negative = 1.0: must differ from data.positive (1), compared as text"
    assert problems(params) == [f"params.yaml: {sentence}"]


@pytest.mark.parametrize(("dotted", "value", "sentence"), [
    ("segment.income_bands.labels", ["low", "high"],
     'segment.income_bands.labels = ["low", "high"]: must hold 6 labels, one per band between the 7 edges'),
    ("segment.income_bands.edges", [0, 3000, 2000, float("inf")],
     "segment.income_bands.edges = [0, 3000, 2000, .inf]: must increase strictly"),
    ("score.grades.shares", [0.5, 0.5], "score.grades.shares = [0.5, 0.5]: must hold one share per grade of "
                                        "score.grades.labels (5)"),
    ("segment.clusters.k_max", 2, "segment.clusters.k_max = 2: must be >= segment.clusters.k_min (3)"),
    ("segment.lifecycle.growth_months", 6,
     "segment.lifecycle.growth_months = 6: must be > segment.lifecycle.acquisition_months (6)"),
    ("retention.uplift.policy_learner", "s_learner",
     'retention.uplift.policy_learner = "s_learner": must be t_learner or x_learner'),
    ("retention.uplift.learners", ["t_learner"],
     'retention.uplift.policy_learner = "x_learner": must be among retention.uplift.learners (t_learner); '
     "unknown: x_learner"),
    ("retention.archetypes.fixable", ["price", "prise"],
     'retention.archetypes.fixable = ["price", "prise"]: must be among retention.archetypes.themes '
     "(price, service, life_event); unknown: prise"),
    ("train.random_split.validation_share", 0.8, "train.random_split.validation_share = 0.8: plus "
                                                  "train.random_split.test_share (0.2) must be < 1, to leave rows to "
                                                  "train on"),
    ("train.tune.space.max_depth", {"low": 8, "high": 2}, "train.tune.space.max_depth.high = 2: must be > low (8)"),
    ("train.tune.space.gamma", {"low": 0.0, "high": 5.0, "log": True},
     "train.tune.space.gamma.log = true: needs low > 0 (low is 0): a log scale starts above 0"),
    ("features.catalogue.red_lift", 1.2, "features.catalogue.red_lift = 1.2: must be >= features.catalogue.amber_lift "
                                         "(1.5)"),
])
def test_rules_between_the_keys_of_a_section(repository, dotted, value, sentence):
    assert problems(with_value(repository, dotted, value)) == [f"params.yaml: {sentence}"]


def test_free_form_mappings_keep_their_key_and_value_types(repository):
    params = with_value(repository, "data.feature_types", {"Geography": "categorical", "HasCrCard": "boolean"})
    params["data"]["tables"] = {"custmers": "crm.csv"}
    params["train"]["baselines"]["models"]["forest"] = {"n_estimators": [100]}
    assert problems(params) == [
        "params.yaml: data.tables.custmers: the name must be customers, monthly, market, churn_events or campaigns",
        'params.yaml: data.feature_types.HasCrCard = "boolean": must be numeric, categorical or flag',
        "params.yaml: train.baselines.models.forest.n_estimators = [100]: must be text, a number, true/false or null"]


def test_a_lake_needs_the_spark_engine_with_a_master(repository):
    params = with_value(repository, "engine.spark.lake", "/lake/churnlab")
    assert problems(params) == [
        'params.yaml: engine.spark.lake = "/lake/churnlab": is a lake only Spark writes: set engine.name: spark, or '
        "set engine.spark.lake: null to keep every output a file under the project (data/processed, reports)"]
    on_spark = with_value(params, "engine.name", "spark")
    assert validate_params(on_spark) == on_spark
    over_connect = with_value(with_value(on_spark, "engine.spark.master", None), "engine.spark.remote", "sc://h:15002")
    assert problems(over_connect) == [
        'params.yaml: engine.spark.lake = "/lake/churnlab": is not supported over Spark Connect (engine.spark.remote): '
        "the lake's version folders are renamed through the classic session's Hadoop file system; set "
        "engine.spark.master instead"]
    assert validate_params(with_value(repository, "engine.spark.lake", None))  # null: no lake, on either engine


def test_a_catalog_table_needs_the_spark_engine_and_a_table_name(repository):
    params = with_value(repository, "data.tables", {"monthly": "table:bank.monthly", "market": "table:bank/market"})
    assert problems(params) == [
        'params.yaml: data.tables.monthly = "table:bank.monthly": names a catalog table, which only the Spark engine '
        "reads: set engine.name: spark, or give a Parquet or CSV file",
        'params.yaml: data.tables.market = "table:bank/market": must name a catalog table as table:<name>, e.g. '
        "table:bank.monthly (up to three dotted parts of letters, digits and _)"]
    on_spark = with_value(with_value(params, "engine.name", "spark"), "data.tables", {"monthly": "table:bank.monthly"})
    assert validate_params(on_spark) == on_spark
