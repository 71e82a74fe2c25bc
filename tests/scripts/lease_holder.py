"""Claims items of stage 1 as annotator 'doomed', prints their ids, then waits to be killed.

Used by test_team_concurrency.py, which kills it with SIGKILL while it holds the leases.
The project is named without a password; a server's comes from PGPASSWORD.
"""

import sys
import time

from pipeline.stages import SPOTTING, Pipeline
from pipeline.store.database import Project

project = Project.open(sys.argv[1])
items = Pipeline(project).next_items(SPOTTING, "doomed", int(sys.argv[2]))
print(" ".join(str(item.id) for item in items), flush=True)
time.sleep(600)
