"""Set before torch loads its OpenMP runtime (libgomp reads its settings once, when it is loaded).

After every parallel region libgomp's idle workers spin for 300,000 rounds (milliseconds) before they sleep. That
spinning takes a core from the numpy threads that pick each user's top K in evaluation (a third of an evaluation on
two cores); 20,000 rounds keep training at the same speed. A value the user set, or a torch already imported, is
left alone.
"""

import os
import sys

if "torch" not in sys.modules:
    os.environ.setdefault("GOMP_SPINCOUNT", "20000")
