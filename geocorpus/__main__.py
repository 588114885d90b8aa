"""``python -m geocorpus``: a launcher for the ``geocorpus`` command, which lives in ``pipelines.cli``
(started through ``pipelines.entry``, as the console script is).

This file is not part of the library (nothing imports it); it only starts the top layer, which is
why it loads ``pipelines.cli`` by name instead of importing it.
"""

import importlib

if __name__ == "__main__":
    importlib.import_module("pipelines.entry").main()
