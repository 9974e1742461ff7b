# Same grades in parallel: the stress set (every lab's solution, starter and one mutant) graded with
# 1 and with 3 jobs, compared check by check (tests/grader/test_stress.py). Included by the Makefile.
# STRESS_LABS="01 05" narrows the set; STRESS_BESIDE=chapters runs the chapter notebooks beside it;
# STRESS_JOBS="1 3" the job counts compared. Results: build/stress/stress.json.
STRESS_LABS ?=
STRESS_BESIDE ?=
STRESS_JOBS ?= 1 3

.PHONY: stress

stress: images ## Stress test: the set graded with 1 and 3 jobs, same statuses? (STRESS_LABS="01 05", STRESS_BESIDE=chapters)
	COURSE_STRESS=1 STRESS_LABS="$(STRESS_LABS)" STRESS_BESIDE="$(STRESS_BESIDE)" STRESS_JOBS="$(STRESS_JOBS)" \
	  $(PY) -m pytest tests/grader/test_stress.py -s $(PYTEST_ARGS)
