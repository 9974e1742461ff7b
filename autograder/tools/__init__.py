"""Machine tools: the doctor (is this machine ready?), offline image bundles, the grading benchmark."""
