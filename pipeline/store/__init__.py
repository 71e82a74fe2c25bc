"""The project's database: where everything longtail knows is kept.

- :mod:`.database`: opening a project (SQLite file or PostgreSQL URL), its transactions,
  metadata and settings rows;
- :mod:`.schema`: the tables; :mod:`.migrations`: the schema's versions, applied on open;
- :mod:`.settings`: the project's settings as one frozen value;
- :mod:`.workqueue`: the shared work queues (claims, leases, answers);
- :mod:`.notify`: telling other sessions that something changed;
- :mod:`.columns`: large integer columns read as numpy arrays;
- :mod:`.credentials`: database passwords, used and never stored;
- :mod:`.transfer`: copying a whole project between backends (``longtail migrate``).
"""
