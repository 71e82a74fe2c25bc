"""Front ends of longtail: the Qt desktop app and the ``longtail`` command line."""
