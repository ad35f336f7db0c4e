"""The model floor: the CaffeNet builder and its layer axis (`alexnet`), the transfer nets built
from a base and n (`transfer`), several nets as one model (`groups`), SavedModel export
(`saved_model`). Nothing here trains."""
