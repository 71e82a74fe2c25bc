"""Data shipped with longtail: vocabularies, demo images, icons."""
