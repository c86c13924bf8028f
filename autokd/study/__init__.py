"""The search as an Optuna study: the controller (`controller`), one trial (`objective`), the
workers that run trials in any process (`workers`), the samplers and pruners (`samplers`,
`pruners`, registered by name), the search space and its sampling (`space`), what a trial
records (`trial`) and the tables built from the study (`tables`, `pareto`)."""
