import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # toy_method / toy_config are imported by module name, also by subprocesses
    sys.path.insert(0, HERE)
