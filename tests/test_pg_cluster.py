"""The throwaway PostgreSQL cluster: reachable with its password, and usable as Optuna storage."""

import optuna


def test_connects_with_password(postgres_url):
    import psycopg

    with psycopg.connect(postgres_url.replace("+psycopg", "", 1)) as connection:
        assert connection.execute("select 1").fetchone() == (1,)


def test_optuna_study_round_trip(postgres_url):
    study = optuna.create_study(
        storage=postgres_url, study_name="round-trip", directions=["maximize"]
    )
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=3)

    loaded = optuna.load_study(study_name="round-trip", storage=postgres_url)
    complete = loaded.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 3
