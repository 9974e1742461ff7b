# `make doctor`: is this machine ready for the course? One [OK] / [INFO] / [WARN] / [FAIL] line per
# prerequisite (engine, API, image store, builder, cgroups, OS and architecture among them), with the
# fix in French (autograder/tools/doctor.py). `make lab` and `make check` run
# their own subset first (`python -m autograder doctor --for lab|check`).
# DOCTOR_ARGS passes options, e.g. DOCTOR_ARGS="--min-free-gb 20 --path ../mon-depot/labs".
DOCTOR_ARGS ?=

.PHONY: doctor

doctor: $(STAMP) ## Diagnose this machine: Docker engine, API, image store, builder, cgroups, Compose, disk, ports, images, CRLF endings, GPU, Docker Hub
	@$(PY) -m autograder doctor $(DOCTOR_ARGS)
