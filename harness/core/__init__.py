"""The floor every other layer stands on: the harness's errors, write-then-rename, the cache folder, progress bars,
derived seeds, the launcher's environment and how a command ends. Nothing here imports torch or the config."""
