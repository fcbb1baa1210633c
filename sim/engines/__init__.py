"""Who decides: behaviour profiles, the calibrated and scripted decision engines, and the
``llm`` engine (:mod:`sim.engines.llm`).

May import :mod:`sim.core` only; the model hands engines a batch of decision contexts and
gets verdicts back.
"""
