"""Experiments on built-in and real data, with their claims and reports: the paper's linear toy
(Sec. 2–4), its Fig. 3–5 on small CNNs repeated over seeds, and the follow-up claims.

Modules (each one idea): :mod:`.toy` (the linear toy, its closed forms and every claim measured
on it), :mod:`.models` (trained networks), :mod:`.rho_layers` (Fig. 3), :mod:`.degradation`
(Fig. 4 and its protocol ablations), :mod:`.gallery` (the Fig. 5 gallery over seeds),
:mod:`.method_suite` (which methods, which options), :mod:`.ground_truth` (scores against the
true signal), :mod:`.followups` and :mod:`.surgery` (``docs/math.md#followups``),
:mod:`.similarity`, :mod:`.synthetic` and :mod:`.digits` (one repetition on the built-in images
and on scikit-learn's digits), :mod:`.intervals` (repetition seeds and confidence intervals),
:mod:`.ledger` (the one Claim type and its verdicts), :mod:`.claims` (the verdict rules of the CNN
claims), :mod:`.disagreements` (what differs from the paper), :mod:`.plots`, :mod:`.report` (the
one report writer) and :mod:`.sections` (the CNN report's text), and the two commands
:mod:`.verify` and :mod:`.reproduce`.
"""
