"""How the processes of one launch work together: the process group, the Accelerator, the threads of the main
process's solo work and the deterministic mode."""
