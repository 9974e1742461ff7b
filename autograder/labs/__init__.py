"""One module per lab; each defines ``LAB`` (see :mod:`autograder.core`)."""
