"""churnlab.model.tune: the study a killed run left behind is resumed, its stale RUNNING trials marked FAIL."""

import optuna
import pytest

from churnlab.model.tune import FINISHED, fail_stale_trials, run_study


def quadratic(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -2.0, 2.0)
    return (x - 1.0) ** 2


def study_kwargs(storage: str) -> dict:
    return {"storage": storage, "study_name": "s", "direction": "minimize", "seed": 3, "timeout_s": None,
            "startup_trials": 2, "warmup_steps": 0, "show_progress_bar": False}


def test_a_trial_left_running_by_a_killed_run_is_marked_failed_and_the_study_completes(tmp_path, caplog):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    run_study(quadratic, n_trials=2, **study_kwargs(storage))
    killed = optuna.load_study(study_name="s", storage=storage)
    orphan = killed.ask()  # what a kill -9 mid-trial leaves: a trial that never reports back
    assert killed.trials[orphan.number].state == optuna.trial.TrialState.RUNNING

    study = run_study(quadratic, n_trials=4, **study_kwargs(storage))
    states = [t.state.name for t in study.trials]
    assert states[orphan.number] == "FAIL" and "RUNNING" not in states
    assert len(study.get_trials(states=FINISHED)) == 4
    assert "1 trial(s) left RUNNING by an interrupted run marked FAIL: [2]" in caplog.text


def test_no_stale_trial_means_nothing_changes(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", study_name="clean")
    study.optimize(quadratic, n_trials=2)
    assert fail_stale_trials(study) == 0
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]


def test_a_study_where_nothing_completed_is_a_clear_error(tmp_path):
    def fails(trial):
        trial.suggest_float("x", 0, 1)
        raise optuna.TrialPruned()

    with pytest.raises(RuntimeError, match="no trial completed"):
        run_study(fails, n_trials=2, **study_kwargs(f"sqlite:///{tmp_path / 'p.db'}"))
