"""Ray Tune sweeps over the harness's one training function, their analysis (ACC-FID curves, Pareto set)."""
