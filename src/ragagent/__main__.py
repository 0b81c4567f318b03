"""Run the ragagent command as `python -m ragagent`."""

import sys

from ragagent.cli import main

sys.exit(main())
