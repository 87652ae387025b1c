"""What to try: the study file (schema, loading, errors), its search space, the train request of a trial,
and the Optuna sampler and pruner it asks for. Nothing here runs a job."""
