import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.join(os.path.dirname(HERE), "train")
for path in (HERE, TRAIN):  # toy_regression / toy_method are imported by module name (config.method)
    if path not in sys.path:
        sys.path.insert(0, path)
