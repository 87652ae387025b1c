"""How to run it: slots asking trials, one trial's course (submit, follow, tell), twins, pruning from
job logs, the compute budget, worker records, and the live progress."""
