"""Synthetic linear models ``x = A_s·s + A_d·d + ε`` and every closed form the paper talks about."""
