"""The Trainer and its loop (``trainer``), the run's data, the step guard, EMA and the loop's cadence."""
