# Engine matrix (issue 15): every case of every lab graded on several Docker engines (tests/engines/).
# LANES=host,sid,podman  CASES=solutions,starters,mutants,alternatives  LABS="01 05"  ENGINE_JOBS=2
LANES ?= host,sid,podman
CASES ?= solutions,starters,mutants,alternatives
ENGINE_JOBS ?= 2

.PHONY: test-engines engines-clean test-podman

test-engines: images ## Grade every lab on several engines (LANES=host,sid,podman CASES= LABS=); table + build/engines/matrix.json
	$(PY) tests/engines/matrix.py --lanes "$(LANES)" --cases "$(CASES)" --labs "$(LABS)" --jobs $(ENGINE_JOBS)

engines-clean: ## Remove the engine matrix's caches (sid rootfs, gzip image archive) and its cached DinD image
	@docker image ls -q --filter label=org.4data.autograder.engines | sort -u | xargs -r docker image rm -f
	rm -rf build/engines

# The labs that run on Podman (lab 13), derived from the registry, graded for real: their solution,
# starter, mutants, alternatives and student path, in the Podman lane (Podman 5 in a container on
# the host's engine), then nothing may be left in Podman. Part of `make test` (beside its second
# phase); exit 75 = the lane could not be set up.
PODMAN_LABS ?= $(shell $(PY) -c "from autograder.registry import all_labs; print(' or '.join(l.id for l in all_labs() if l.engine == 'podman'))" 2>/dev/null)
test-podman: images ## Grade the Podman labs (13) for real in the engines' Podman lane
	@if [ -z "$(PODMAN_LABS)" ]; then echo "no lab runs on Podman"; exit 0; fi; \
	  $(PY) tests/engines/podman_run.py -- $(PY) -m pytest -p no:cacheprovider tests/grader/test_labs.py \
	    tests/grader/test_paths.py -k "$(PODMAN_LABS)" $(PYTEST_ARGS)
