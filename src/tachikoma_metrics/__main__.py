"""``python -m tachikoma_metrics demo``: see ``tachikoma_metrics.demo``."""

import sys

from .demo import main

if __name__ == "__main__":
    sys.exit(main())
