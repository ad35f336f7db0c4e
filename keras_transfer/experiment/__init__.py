"""The experiment floor: a sweep's config and context, its plan of nets, run directories and
the results file, the engines that train the plan (local, KerasTuner)."""
