"""Real language-model decisions: a model interface, its wrappers, a sandboxed scenario per
decision, classification from the sandbox's final state, and the ``llm`` decision engine.

Nothing here imports litellm except :mod:`sim.engines.llm.litellm_model`, and only when a real
model is called.
"""
