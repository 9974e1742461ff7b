# arm64 under emulation (issue 15; tests/test_arm64.py). Included by the Makefile.
# Root only: qemu-user-static + binfmt_misc (docker/binfmt.sh), then a second dockerd of its own
# (arm64 stand-ins never replace this engine's amd64 tags), labs 01 and 05 graded there with arm64
# images, the course container built for linux/arm64. Slow (measured on a busy 2-core machine):
# ~30 min for the arm64 stand-ins (then cached in build/arm64/), ~30 min of cold BuildKit warm-up
# builds, ~3 min of gradings; the course container's build takes 30-70 min more
# (ARM64_COURSE=0 leaves it out). Timings: build/arm64/timings.json.
ARM64_COURSE ?= 1

.PHONY: test-arm64 arm64-clean

test-arm64: $(STAMP) ## Grade labs 01 and 05 with arm64 images under qemu, build the course container for arm64 (slow, root)
	bash docker/binfmt.sh
	COURSE_TEST_ARM64=1 COURSE_TEST_ARM64_COURSE=$(ARM64_COURSE) $(PY) -m pytest tests/test_arm64.py -v $(PYTEST_ARGS)

arm64-clean: ## Remove the arm64 test's cached stand-ins and timings (build/arm64/)
	rm -rf build/arm64
