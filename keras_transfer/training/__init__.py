"""The training floor: the paper's recipe and optimizer, one fit for one net or a group of nets
(checkpoints, signals, divergence, history, TensorBoard), the convergence diagnostic. Knows
nothing of sweeps, plans or workdirs."""
