"""Core data: the vocabulary, the parameter groups and their checks, the errors, and the
fleet's state arrays.

Imports nothing else of :mod:`sim`; every other subpackage may import it.
"""
