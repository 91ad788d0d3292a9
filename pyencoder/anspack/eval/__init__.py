"""Task-quality evaluation and bit allocation for anspack.

* :mod:`anspack.eval.bert`: numpy forward pass of a BERT-family sentence encoder (all-MiniLM-L6-v2).
* :mod:`anspack.eval.metrics`: embedding fidelity (mean / min cosine vs fp32, Spearman of pairwise
  similarities) and the digits MLP's accuracy.
* :mod:`anspack.eval.sensitivity`: per-tensor sensitivity from calibration inputs (input second moments
  of each linear layer; the task distortion per unit of weight error, measured by perturbation).
* :mod:`anspack.eval.allocate`: gives each tensor its own quantizer step to meet a whole-file bit budget
  (``--target-bits``) or a quality target with the fewest bits (equal marginal return dD/dR).

Needs the ``tokenizers`` package for sentence encoders (``pip install anspack[eval]``).
"""
