"""Keeps writing to a project; prints each write's id once it is committed.

Used by test_crash.py, which kills this process with SIGKILL at a random moment.
"""

import sys

from sqlalchemy import select

from pipeline.annotations import insert_instance
from pipeline.events import log_event
from pipeline.masks.geometry import Mask
from pipeline.stages.journal import Journal
from pipeline.stages.segmentation import new_segment_version
from pipeline.store import schema as s
from pipeline.store.database import Project, read_settings

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
        new_segment_version(  # the segment writer of stage 3 and corrections
            Journal(conn),
            read_settings(conn),
            conn.execute(select(s.instances).where(s.instances.c.id == instance)).one(),
            conn.execute(select(s.images).where(s.images.c.id == image_id)).one(),
            Mask.from_box((n % 50, n % 30, 5, 5), 48, 64),
            author_id=annotator.id,
            tool=None,
        )
        log_event(
            conn, "crash-test", annotator_id=annotator.id, image_id=image_id, payload={"n": n}
        )
    print(instance, flush=True)
