"""Keeps writing to a project; prints each write's id once it is committed.

Used by test_crash.py, which kills this process with SIGKILL at a random moment.
"""

import sys

from pipeline.annotations import insert_instance, insert_segment
from pipeline.events import log_event
from pipeline.geometry import Mask
from pipeline.store import Project

project = Project.open(sys.argv[1])
image_id, category_id = int(sys.argv[2]), int(sys.argv[3])
annotator = project.annotator("crash-writer")
print("ready", flush=True)
n = 0
while True:
    n += 1
    with project.write() as conn:  # one committed transaction per write, like a user action
        instance = insert_instance(
            conn, image_id, category_id, point=(n % 60, n % 40), annotator_id=annotator.id
        )
        insert_segment(
            conn, instance, Mask.from_box((n % 50, n % 30, 5, 5), 48, 64), annotator_id=annotator.id
        )
        log_event(
            conn, "crash-test", annotator_id=annotator.id, image_id=image_id, payload={"n": n}
        )
    print(instance, flush=True)
