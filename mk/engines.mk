# Engine matrix (issue 15): every case of every lab graded on several Docker engines (tests/engines/).
# LANES=host,sid,podman  CASES=solutions,starters,mutants,alternatives  LABS="01 05"  ENGINE_JOBS=2
LANES ?= host,sid,podman
CASES ?= solutions,starters,mutants,alternatives
ENGINE_JOBS ?= 2

.PHONY: test-engines engines-clean

test-engines: images ## Grade every lab on several engines (LANES=host,sid,podman CASES= LABS=); table + build/engines/matrix.json
	$(PY) tests/engines/matrix.py --lanes "$(LANES)" --cases "$(CASES)" --labs "$(LABS)" --jobs $(ENGINE_JOBS)

engines-clean: ## Remove the engine matrix's caches (sid rootfs, gzip image archive) and its cached DinD image
	@docker image ls -q --filter label=org.4data.autograder.engines | sort -u | xargs -r docker image rm -f
	rm -rf build/engines
