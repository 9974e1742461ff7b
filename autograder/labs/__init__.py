"""One module per lab: its checks, constants and quiz questions; each defines ``LAB`` (see :mod:`autograder.core`)."""
