"""Everything a run leaves behind and how it is found again: the run folder and its lock, identities (run and
result, earlier versions included), checkpoints, tracking (metrics.jsonl and W&B), and the result records tables
pool."""
