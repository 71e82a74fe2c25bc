"""Reusable widgets: dialogs, the New Project wizard, the category picker and panels."""
