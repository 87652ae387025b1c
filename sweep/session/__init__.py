"""Where a study lives and runs: its Optuna storage, its target (Studio or the embedded local studio),
and what the study and its trials record."""
