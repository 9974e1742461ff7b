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

# The Podman lab (lab 13) graded for real: its solution, starter, mutants, alternatives and student
# path, in the Podman lane (Podman 5 in a container on the host's engine), then nothing may be left
# in Podman. Part of `make test` (beside its second phase); exit 75 = the lane could not be set up.
PODMAN_TESTS := tests/grader/test_labs.py tests/grader/test_paths.py -k "$(PODMAN_LABS)"
PODMAN_LABS ?= 13-kubernetes-podman
test-podman: images ## Grade the Podman lab (13) for real in the engines' Podman lane
	$(PY) tests/engines/podman_run.py -- $(PY) -m pytest -p no:cacheprovider $(PODMAN_TESTS) $(PYTEST_ARGS)
