"""``python -m sim.app.probe``: the same as ``peersim-probe``."""

from sim.app.probe import main

main()
