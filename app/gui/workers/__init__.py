"""Work off the GUI thread: the job runner (scan, import, export) and the model worker."""
