"""The report floor: pure computations over results rows (statistics, the paper's decomposition,
findings, dataset size) and their figures; `python -m keras_transfer.report` renders them."""
