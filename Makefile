# Course and autograder tasks. Every target bootstraps the virtual environment on first use.
# `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_HOST ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
LAB ?=
PYTEST_ARGS ?=
GRADER_WORKERS ?= 2
TEST_SNAPSHOT := build/test-volumes-at-start.json
JUPYTER_ARGS ?=

.PHONY: help venv lab test test-unit test-grader check list images docker-ready clean-docker

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36mmake %-14s\033[0m %s\n", $$1, $$2}'
	@echo "  (students: make check LAB=01)"

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON_HOST) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## Create or update the virtual environment from requirements.txt

docker-ready: $(STAMP) ## Stop with a clear message (exit 2) when no Docker engine answers
	@$(PY) -m autograder preflight

lab: $(STAMP) ## Open JupyterLab on the course (chapters/ and labs/)
	@$(PY) -m autograder preflight --warn-only
	$(VENV)/bin/jupyter lab --notebook-dir=. --ServerApp.default_url=/lab/tree/README.md $(JUPYTER_ARGS) \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

images: docker-ready ## Make sure the course images exist (pull, or build offline stand-ins)
	bash docker/images.sh

check: $(STAMP) ## Grade a lab: make check LAB=01 (grades labs/01-*; exit 2 without Docker)
	@test -n "$(LAB)" || { echo "Usage : make check LAB=01   (numéro du TP)"; exit 2; }
	@dir=$$(ls -d labs/$$(printf '%02d' $$((10#$(LAB))))-*/ 2>/dev/null | head -1); \
	  test -n "$$dir" || { echo "TP $(LAB) introuvable dans labs/ / lab $(LAB) not found"; exit 2; }; \
	  $(PY) -m autograder check "$${dir%/}"

list: $(STAMP) ## List the labs, their checks and points
	@$(PY) -m autograder list

test-unit: $(STAMP) ## Fast tests that need no Docker
	$(PY) -m pytest -m "not docker" $(PYTEST_ARGS)

test-grader: images ## The grader tested both ways on every lab (solutions, starters, mutants, alternatives)
	$(PY) -m pytest tests/grader $(PYTEST_ARGS)

# `make test` grades the labs' solutions, starters, mutants and alternatives on GRADER_WORKERS
# parallel pytest workers (gradings are isolated by job), then runs the rest of the suite in order,
# the leftovers test last; the volume snapshot taken before the first phase is shared with it.
test: images ## Run the whole suite (unit, layout, course images, grader both ways, no leftovers)
	@rm -f $(TEST_SNAPSHOT); export AUTOGRADER_TEST_VOLUMES_SNAPSHOT=$(TEST_SNAPSHOT); \
	  $(PY) -m pytest -n $(GRADER_WORKERS) --dist worksteal tests/grader/test_labs.py $(PYTEST_ARGS); labs=$$?; \
	  $(PY) -m pytest --ignore=tests/grader/test_labs.py $(PYTEST_ARGS); rest=$$?; \
	  rm -f $(TEST_SNAPSHOT); test $$labs -eq 0 -a $$rest -eq 0

clean-docker: docker-ready ## Remove every container, volume, network and image the grader left
	@$(PY) -m autograder clean
