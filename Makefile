# Course and autograder tasks. Every target bootstraps the virtual environment on first use.
# `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_HOST ?= python3
# The course container (docker/course/) sets COURSE_VENV to its own environment, outside the repository.
VENV := $(or $(COURSE_VENV),.venv)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
LAB ?=
PYTEST_ARGS ?=
GRADER_WORKERS ?= 2
TEST_SNAPSHOT := build/test-volumes-at-start.json
JUPYTER_ARGS ?=
NB ?= chapters
NBVAL := --nbval-lax --nbval-sanitize-with chapters/nbval-sanitize.cfg --nbval-cell-timeout=900

-include mk/*.mk

.PHONY: help venv lab test test-unit test-grader test-chapters chapters-record check list images docker-ready clean-docker

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36mmake %-14s\033[0m %s\n", $$1, $$2}'
	@echo "  (students: make check LAB=01 — exit 0 once graded, even with failed checks; 2 when it cannot grade)"

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON_HOST) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## Create or update the virtual environment from requirements.txt

docker-ready: $(STAMP) ## Stop with a clear message (exit 2) when no Docker engine answers
	@$(PY) -m autograder preflight

# Students' JupyterLab hides nbgrader's instructor extensions (jupyter/etudiant/); INSTRUCTOR=1 shows them.
lab: $(STAMP) ## Open JupyterLab on the course (chapters/ and labs/; INSTRUCTOR=1 adds the formgrader)
	@$(PY) -m autograder doctor --for lab
	$(if $(INSTRUCTOR),,JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter/etudiant) $(VENV)/bin/jupyter lab --notebook-dir=. --ServerApp.default_url=/lab/tree/chapters/README.md $(JUPYTER_ARGS) \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

images: docker-ready ## Make sure the course images exist (pull, or build offline stand-ins)
	bash docker/images.sh

# make check's exit status: 0 the lab was graded, whatever the score (failed checks are the
# student's next steps, not an error of the tool), 2 it could not be graded (no Docker engine or
# Compose, unknown lab, Docker lost mid-grading, interrupted). GNU make has no other failure code,
# so STRICT=1 (a CI job that must fail on a failed check) turns failed checks into 2 as well; the
# three-way status 0/1/2 is `python -m autograder check DIR`'s own.
check: $(STAMP) ## Grade a lab: make check LAB=01 (exit 0 once graded, even with failed checks; 2 cannot grade; STRICT=1: failed checks exit 2)
	@test -n "$(LAB)" || { echo "Usage : make check LAB=01   (numéro du TP)"; exit 2; }
	@dir=$$(ls -d labs/$$(printf '%02d' $$((10#$(LAB))))-*/ 2>/dev/null | head -1); \
	  test -n "$$dir" || { echo "TP $(LAB) introuvable dans labs/ / lab $(LAB) not found"; exit 2; }; \
	  $(PY) -m autograder doctor --for check --path "$${dir%/}" || exit 2; \
	  $(PY) -m autograder check "$${dir%/}"; rc=$$?; \
	  if [ $$rc -eq 1 ]; then \
	    echo "TP $(LAB) corrigé : des vérifications restent à reprendre (détails ci-dessus) ; corrigez-les, puis relancez make check LAB=$(LAB)."; \
	    $(if $(filter 1,$(STRICT)),echo "STRICT=1 : code de sortie 2 (vérifications ratées)." >&2; exit 2;) \
	  elif [ $$rc -ne 0 ]; then exit 2; fi

list: $(STAMP) ## List the labs, their checks and points
	@$(PY) -m autograder list

test-unit: $(STAMP) ## Fast tests that need no Docker (nor the package registries)
	$(PY) -m pytest -m "not docker and not network" $(PYTEST_ARGS)

test-chapters: images ## Run the chapter notebooks with nbval (NB=chapters/1-introduction for one part)
	$(PY) -m pytest $(NBVAL) $(NB) $(PYTEST_ARGS)

chapters-record: images ## Re-execute chapter notebooks in place and record their outputs for demo mode (NB=...)
	@for nb in $$(find $(NB) -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' -not -path '*/_travail/*' | sort); do \
	  echo "== $$nb"; COURSE_RECORD=1 $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=900 "$$nb" || exit 1; done

test-grader: images ## The grader tested both ways on every lab (solutions, starters, mutants, alternatives)
	$(PY) -m pytest tests/grader $(PYTEST_ARGS)

# `make test` runs in three steps sharing one volume snapshot (taken before the first):
# 1. the labs' solutions, starters, mutants, alternatives and student paths graded on GRADER_WORKERS parallel
#    pytest workers (gradings are isolated by job);
# 2. the chapter notebooks under nbval, one after the other, in a second pytest process (its log is
#    printed when it ends) while the rest of the suite runs in order (sequential when GRADER_WORKERS=1);
# 3. the browser test of `make lab` (JupyterLab and Chromium, timed by deadlines: once the CPUs are
#    free), then the leftovers tests, once nothing else runs.
test: images ## Run the whole suite (unit, layout, course images, grader both ways, chapters, no leftovers)
	@rm -f $(TEST_SNAPSHOT) build/chapters-nbval.* build/podman-lab.*; mkdir -p build; \
	  export AUTOGRADER_TEST_VOLUMES_SNAPSHOT=$(TEST_SNAPSHOT); \
	  $(PY) -m pytest -n $(GRADER_WORKERS) --dist worksteal tests/grader/test_labs.py tests/grader/test_paths.py $(PYTEST_ARGS); labs=$$?; \
	  chapters() { $(PY) -m pytest $(NBVAL) -p no:cacheprovider chapters $(PYTEST_ARGS); }; \
	  if [ "$(GRADER_WORKERS)" -gt 1 ]; then \
	    ( chapters > build/chapters-nbval.log 2>&1; echo $$? > build/chapters-nbval.rc ) & \
	  else chapters; echo $$? > build/chapters-nbval.rc; fi; \
	  ( $(MAKE) --no-print-directory test-podman > build/podman-lab.log 2>&1; echo $$? > build/podman-lab.rc ) & \
	  $(PY) -m pytest --ignore=tests/grader/test_labs.py --ignore=tests/grader/test_paths.py --ignore=tests/test_zz_no_leftovers.py --ignore=tests/browser tests $(PYTEST_ARGS); rest=$$?; \
	  wait; if [ -f build/chapters-nbval.log ]; then echo "== chapter notebooks (nbval)"; cat build/chapters-nbval.log; fi; \
	  nb=$$(cat build/chapters-nbval.rc 2>/dev/null || echo 1); \
	  echo "== the Podman lab in the Podman lane (make test-podman)"; cat build/podman-lab.log; \
	  pod=$$(cat build/podman-lab.rc 2>/dev/null || echo 1); \
	  if [ $$pod -eq 75 ]; then echo "WARNING: the Podman lane could not be set up: lab 13 was NOT graded with Podman"; pod=0; fi; \
	  $(PY) -m pytest tests/browser tests/test_zz_no_leftovers.py $(PYTEST_ARGS); left=$$?; \
	  rm -f $(TEST_SNAPSHOT); test $$labs -eq 0 -a $$rest -eq 0 -a $$nb -eq 0 -a $$pod -eq 0 -a $$left -eq 0

clean-docker: docker-ready ## Remove every container, volume, network and image the grader left
	@$(PY) -m autograder clean
