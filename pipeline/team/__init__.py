"""Who may do what in a team project (decision 0020).

- :mod:`.roles`: the roles (annotator, verifier, admin), the stage rules they unlock and
  the readable refusals;
- :mod:`.postgres`: the PostgreSQL side that enforces them: group roles, grants,
  row-level security and the team's SECURITY DEFINER functions.
"""
