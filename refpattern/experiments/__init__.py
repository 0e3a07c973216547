"""Experiments on built-in data: the paper's Fig. 3–5 and the follow-up claims, with a report.

Modules (each one idea): :mod:`.models` (trained networks), :mod:`.rho_layers` (Fig. 3),
:mod:`.degradation` (Fig. 4), :mod:`.method_suite` (which methods, which options),
:mod:`.ground_truth` (scores against the true signal), :mod:`.followups` and :mod:`.surgery`
(``docs/paper.md`` §7), :mod:`.similarity`, :mod:`.claims` (the ledger and its verdict rules),
:mod:`.plots`, :mod:`.report` and :mod:`.sections` (writing), :mod:`.reproduce` (the command).
"""
