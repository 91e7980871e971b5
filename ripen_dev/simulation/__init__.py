"""Seeing a sequence play out before it ships: `ripen simulate` (a synthetic population or real
history replayed) and `ripen preview-lead` (one lead, one behaviour script).

Local tooling only: no Lambda handler imports this package. It drives the real engine
(`ripen.core.engine`) on a virtual clock, so what it predicts is what production decides.
"""
